// Every snippet in the README and every example imports what a user would: the package by its
// npm name, its peer rxjs, node: builtins, or another package from the registry, never a path
// into src/.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Meter } from '@opentelemetry/api';
import { createInstruments } from '../../src/otel/instruments.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  exports: Record<string, unknown>;
  peerDependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const IMPORT = /\bfrom\s+'([^']+)'|\bimport\(\s*'([^']+)'\s*\)|\brequire\(\s*'([^']+)'\s*\)/g;

function specifiers(code: string): string[] {
  return [...code.matchAll(IMPORT)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

test(`README code blocks import the package as '${pkg.name}' and nothing from the repository`, () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```(?:ts|js|typescript|javascript)\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const imported = blocks.flatMap(specifiers);
  assert.ok(imported.includes(pkg.name), `no README snippet imports '${pkg.name}'`);
  // Anything else must be something a user installs (a peer or a schema library) or a builtin.
  const known = new Set([
    // The package and its subpath entries ('concord-etcd/otel').
    ...Object.keys(pkg.exports).map((entry) => entry.replace(/^\./, pkg.name)),
    ...Object.keys(pkg.peerDependencies),
    ...Object.keys(pkg.devDependencies),
  ]);
  assert.deepEqual(
    imported.filter((s) => !known.has(s) && !s.startsWith('node:')),
    [],
  );
});

test(`examples import the package as '${pkg.name}', never from src/`, () => {
  const dir = join(ROOT, 'examples');
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  for (const file of files) {
    const imported = specifiers(readFileSync(join(dir, file), 'utf8'));
    assert.deepEqual(
      imported.filter((s) => /(^|\/)src\//.test(s) || s === 'concord'),
      [],
      `examples/${file}`,
    );
  }
  const mains = files.filter((f) => !f.startsWith('support/'));
  assert.ok(
    mains.every((f) => specifiers(readFileSync(join(dir, f), 'utf8')).includes(pkg.name)),
    'every example imports concord-etcd',
  );
});

test("README snippets never write a key inside a lock's or election's own queue prefix", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```(?:ts|js|typescript|javascript)\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const prefixes = blocks.flatMap((code) => [
    ...[...code.matchAll(/\.(?:mutex|rwlock|semaphore)\('([^']+)'/g)].map((m) => `${m[1]}/`),
    ...[...code.matchAll(/\.election\('([^']+)'/g)].map((m) => `election/${m[1]}/`),
  ]);
  const keys = blocks.flatMap((code) => [...code.matchAll(/\bkey: '([^']+)'/g)].map((m) => m[1]!));
  assert.ok(prefixes.length > 0 && keys.length > 0, 'the README shows locks and guarded writes');
  assert.deepEqual(
    keys.filter((key) => prefixes.some((prefix) => key.startsWith(prefix))),
    [],
    'such a write is refused (InvalidArgumentError): the keys there are the queue',
  );
});

test('README warns about the first-hour traps: hold$ with firstValueFrom, await using on Node 20/22, telling a timeout from a loss', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  assert.match(readme, /firstValueFrom\(mutex\.hold\$\(\)\)[^.]*releases the lock at once/);
  assert.match(readme, /Node 24 runs it[^.]*Node 20 and 22 it is a\s+`SyntaxError`/);
  assert.match(
    readme,
    /```ts\n\s*const lock = await [^`]*try \{[^`]*\} finally \{\s*await lock\.release\(\);/,
  );
  assert.match(readme, /rejects with `signal\.reason`/);
  assert.match(readme, /err\.name === 'TimeoutError'/);
  assert.match(readme, /isConcordError\(err, 'LOCK_LOST'\)/);
  assert.match(readme, /`concord\.etcd` is the raw etcd3 client/);
});

test("README's metrics table is every instrument of concord-etcd/otel, with its kind and unit", () => {
  const created = new Map<string, string>();
  const create =
    (kind: string) =>
    (name: string, options?: { unit?: string }): object => {
      created.set(name, `${kind} ${options?.unit}`);
      return {};
    };
  createInstruments({
    createHistogram: create('Histogram'),
    createCounter: create('Counter'),
    createObservableUpDownCounter: create('UpDownCounter (async)'),
    createObservableGauge: create('Gauge (async)'),
  } as unknown as Meter);
  // OpenTelemetry's naming style: dotted lowercase namespaces, snake_case words inside one.
  for (const name of created.keys()) assert.match(name, /^concord(\.[a-z][a-z0-9]*(_[a-z0-9]+)*)+$/);
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const rows = [...readme.matchAll(/^\| `(concord\.[\w.]+)` \| ([^|]+?) \| `([^`]+)` \|/gm)];
  assert.deepEqual(new Map(rows.map((m) => [m[1]!, `${m[2]} ${m[3]}`])), created);
});
