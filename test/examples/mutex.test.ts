// Runs examples/mutex.ts as a user would (it starts its own etcd when ETCD_ENDPOINTS is unset)
// and checks the story it tells: 12 fair increments, then a lost lock whose late write is refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runExample } from '../support/example.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/mutex.ts', import.meta.url));

test('examples/mutex.ts: guarded increments add up, a lost holder is told and its late write refused', async () => {
  const { code, out, err } = await runExample(EXAMPLE, { timeoutMs: 60_000 });
  assert.equal(code, 0, `exit code; stdout:\n${out}\nstderr:\n${err}`);

  const commits = [...out.matchAll(/token (\d+): counter (\d+) -> (\d+) committed/g)];
  assert.equal(commits.length, 12, out);
  const tokens = commits.map((m) => BigInt(m[1]!));
  for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i]! > tokens[i - 1]!, 'fencing tokens increase');
  assert.deepEqual(
    commits.map((m) => Number(m[3])),
    Array.from({ length: 12 }, (_, i) => i + 1),
  );
  assert.match(out, /counter = 12 \(expected 12\)/);
  const lost = out.indexOf('lost$:');
  const acquired = out.indexOf('bravo    acquired with token');
  assert.ok(lost >= 0 && acquired >= 0, out);
  assert.match(out, /late guarded write with the old token: refused/);
  assert.match(out, /final counter = 12/);
});
