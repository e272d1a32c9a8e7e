// Runs examples/live-config.ts as a user would (it starts its own etcd when ETCD_ENDPOINTS is
// unset) and checks that it exits by itself with the story it promises.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runExample } from '../support/example.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/live-config.ts', import.meta.url));

test('examples/live-config.ts prints its config live, rejects the invalid changes and exits 0', async () => {
  const { code, out, err } = await runExample(EXAMPLE, { timeoutMs: 90_000 });
  assert.equal(code, 0, `exit code; stdout:\n${out}\nstderr:\n${err}`);

  const lines = out.split('\n');
  const index = (pattern: RegExp): number => {
    const i = lines.findIndex((line) => pattern.test(line));
    assert.ok(i >= 0, `expected a line matching ${pattern} in:\n${out}`);
    return i;
  };
  const initial = index(/^\[printer\] config: db=localhost\/pool=10 darkMode=false logLevel=info$/);
  const changed = index(/^\[printer\] config: db=localhost\/pool=20 /);
  const conflict = index(/^\[writer\] +a second set .* refused: CONFLICT$/);
  const refused = index(/^\[writer\] +refused before writing: db\.pool: /);
  const rejected = index(/^\[printer\] rejected revision \d+ \(key db\/pool\): db\.pool: /);
  const kept = index(/^\[printer\] still using: db=localhost\/pool=25 darkMode=true logLevel=info$/);
  const final = index(/^\[printer\] final: db=localhost\/pool=30 darkMode=true logLevel=debug$/);
  // Only orderings that causality guarantees: each process's own lines, and the printer's
  // rejection after the writer's raw write (which follows its 'refused' line).
  assert.ok(initial < changed && conflict < refused && refused < rejected);
  assert.ok(rejected < kept && kept < final);
  // The rejected values never reach the printed config.
  assert.ok(!/pool=(1000|lots)/.test(out), out);
});
