// Runs examples/service-discovery.ts as a user would (it starts its own etcd when ETCD_ENDPOINTS is
// unset) and checks that it exits by itself with the story it promises.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runExample } from '../support/example.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/service-discovery.ts', import.meta.url));

test('examples/service-discovery.ts follows instances up and down, calls them round-robin and exits 0', async () => {
  const { code, out, err } = await runExample(EXAMPLE, { timeoutMs: 90_000 });
  assert.equal(code, 0, `exit code; stdout:\n${out}\nstderr:\n${err}`);

  const client = out
    .split('\n')
    .filter((line) => line.startsWith('[client]'))
    .map((line) => line.replace(/^\[client\]\s+/, ''));
  const index = (pattern: RegExp): number => {
    const i = client.findIndex((line) => pattern.test(line));
    assert.ok(i >= 0, `expected a client line matching ${pattern} in:\n${out}`);
    return i;
  };
  /** The instance ids called between two client lines. */
  const calls = (from: number, to: number): string[] =>
    client
      .slice(from + 1, to)
      .filter((line) => line.startsWith('call'))
      .map((line) => {
        const m = /^call +-> (\w+): hello from (\w+)$/.exec(line);
        assert.ok(m, `a call line answered by the instance it picked: ${line}`);
        assert.equal(m[1], m[2]);
        return m[1]!;
      });

  const upA = index(/^up +a at 127\.0\.0\.1:\d+$/);
  const upB = index(/^up +b at 127\.0\.0\.1:\d+$/);
  const upC = index(/^up +c at 127\.0\.0\.1:\d+$/);
  const crash = index(/^crashing instance b/);
  const downB = index(/^down +b \(was at 127\.0\.0\.1:\d+\)$/);
  const wentDown = index(/^b went down [\d.]+ s after the crash/);
  const stopA = index(/^stopping instance a/);
  const downA = index(/^down +a /);
  const stopC = index(/^stopping instance c/);
  const downC = index(/^down +c /);
  const none = index(/^call +-> no instance is up$/);
  const done = index(/^done$/);
  assert.ok(Math.max(upA, upB) < upC && upC < crash && crash < downB && downB < wentDown);
  assert.ok(
    wentDown < stopA && stopA < downA && downA < stopC && stopC < downC && downC < none && none < done,
  );

  // Round-robin: strict alternation over a and b, then each of the three once per round.
  assert.deepEqual(calls(Math.max(upA, upB), upC), ['a', 'b', 'a', 'b']);
  assert.deepEqual(calls(upC, crash).sort(), ['a', 'b', 'c']);
  // After the crash only a and c are picked, evenly; after a stops, only c.
  const afterCrash = calls(wentDown, stopA);
  assert.equal(afterCrash.length, 4);
  assert.deepEqual(afterCrash.filter((id) => id === 'a').length, 2);
  assert.deepEqual(afterCrash.filter((id) => id === 'c').length, 2);
  assert.deepEqual(calls(downA, stopC), ['c', 'c']);
  // The instances report their own registration and graceful deregistration.
  assert.match(out, /^\[instance b\] registered services\/greeter\/b at 127\.0\.0\.1:\d+$/m);
  assert.match(out, /^\[instance a\] deregistered, shutting down$/m);
  assert.match(out, /^\[instance c\] deregistered, shutting down$/m);
  assert.doesNotMatch(out, /^\[instance b\] deregistered/m, 'the crashed instance never deregistered');
});
