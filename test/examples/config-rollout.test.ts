// Runs examples/config-rollout.ts as a user would (it starts its own etcd when ETCD_ENDPOINTS is
// unset) and checks that it exits by itself with the story it promises.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runExample } from '../support/example.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/config-rollout.ts', import.meta.url));

test('examples/config-rollout.ts rolls out a good change everywhere, shows the instance rejecting a bad one, and exits 0', async () => {
  const { code, out, err } = await runExample(EXAMPLE, { timeoutMs: 90_000 });
  assert.equal(code, 0, `exit code; stdout:\n${out}\nstderr:\n${err}`);

  const lines = out.split('\n');
  const index = (pattern: RegExp): number => {
    const i = lines.findIndex((line) => pattern.test(line));
    assert.ok(i >= 0, `expected a line matching ${pattern} in:\n${out}`);
    return i;
  };
  const live = index(/^\[writer\] 3 instances are live$/);
  const good = /^\[writer\] set db\/pool = 20 at revision (\d+)$/.exec(
    lines[index(/^\[writer\] set db\/pool = 20 /)]!,
  )![1];
  const goodDone = index(
    new RegExp(
      `^\\[writer\\] +revision ${good}: applied \\[web-1, web-2, web-3\\] · rejected \\[\\] · pending \\[\\]$`,
    ),
  );
  const goodVerdict = index(new RegExp(`^\\[writer\\] revision ${good} rolled out to web-1, web-2, web-3$`));
  const bad = /^\[writer\] set logLevel = "trace" at revision (\d+)$/.exec(
    lines[index(/^\[writer\] set logLevel = "trace" /)]!,
  )![1];
  const badDone = index(
    new RegExp(
      `^\\[writer\\] +revision ${bad}: applied \\[web-1, web-2\\] · rejected \\[web-3\\] · pending \\[\\]$`,
    ),
  );
  const badVerdict = index(new RegExp(`^\\[writer\\] revision ${bad} rejected by web-3: logLevel: `));
  const refused = index(new RegExp(`^\\[web-3\\] +rejected revision ${bad}: logLevel: `));
  const stopped = index(/^\[writer\] instances stopped$/);
  // Only orderings causality guarantees: the writer's own steps (the second change is made once
  // the first one's rollout is settled and printed), and web-3's rejection before the writer hears of it.
  assert.ok(live < goodDone && goodDone < badDone && goodVerdict < badDone);
  assert.ok(badDone < stopped && badVerdict < stopped && refused < badVerdict);
  // web-3 never ran the level its release does not know; the others did.
  assert.ok(!/^\[web-3\] +running .*logLevel=trace/m.test(out), out);
  for (const id of ['web-1', 'web-2'])
    assert.match(out, new RegExp(`^\\[${id}\\] +running db\\.pool=20 logLevel=trace$`, 'm'));
});
