#!/usr/bin/env node
// Runs the test suite with Node's built-in test runner (TypeScript through tsx).
//   node scripts/test.mjs            every *.test.ts under src/ and test/ except test/faults/
//   node scripts/test.mjs --faults   only the fault-injection suite under test/faults/
//   node scripts/test.mjs a.test.ts  just the named files
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const faults = args.includes('--faults');
const named = args.filter((a) => !a.startsWith('--'));

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...walk(path));
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const isFault = (f) => relative(root, f).startsWith('test/faults/');
const files =
  named.length > 0
    ? named
    : [...walk(join(root, 'src')), ...walk(join(root, 'test'))]
        .filter((f) => (faults ? isFault(f) : !isFault(f)))
        .sort();
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const concurrency = process.env.TEST_CONCURRENCY ?? (faults ? '1' : '2');
const result = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    `--test-concurrency=${concurrency}`,
    '--test-reporter=spec',
    ...files.map((f) => relative(root, f)),
  ],
  { cwd: root, stdio: 'inherit' },
);
process.exit(result.status ?? 1);
