// Runs examples/mutex.ts as a user would (it starts its own etcd when ETCD_ENDPOINTS is unset)
// and checks the story it tells: 12 fair increments, then a lost lock whose late write is refused,
// then a whileHeld job that winds down on expiring$ before the next waiter can get the lock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runExample } from '../support/example.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/mutex.ts', import.meta.url));

test('examples/mutex.ts: guarded increments add up, a lost holder is told and its late write refused, a scoped job stops in time', async (t) => {
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

  // The whileHeld job: items commit until the budget alarm, the next holder comes only after it.
  const at = (pattern: RegExp) => {
    const m = pattern.exec(out);
    assert.ok(m, `${pattern} in:\n${out}`);
    return m;
  };
  assert.ok(at(/charlie +item 0: committed/));
  const silent = at(/(\d+) ms +demo +charlie's network goes silent/);
  const stopped = at(/(\d+) ms +charlie +lease budget down to (\d+) ms: taking no more items/);
  const handedOn = at(/(\d+) ms +bravo +acquired with token \d+, (\d+) ms after charlie stopped/);
  at(/charlie +job done after item \d+: whileHeld has given the lock up/);
  t.diagnostic(
    `job: budget alarm ${Number(stopped[1]) - Number(silent[1])} ms after the network went silent ` +
      `(${stopped[2]} ms left), next holder ${handedOn[2]} ms after the job stopped`,
  );
  assert.ok(Number(stopped[1]) > Number(silent[1]), 'the alarm follows the silence');
  assert.ok(Number(handedOn[2]) > 0, 'the next holder came after the job stopped');
  const lastCommit = [...out.matchAll(/(\d+) ms +charlie +item \d+: committed/g)].at(-1)!;
  assert.ok(
    Number(lastCommit[1]) < Number(handedOn[1]),
    'no committed item after the next holder got the lock',
  );
});
