// Runs the main demo (`npm run demo`) end to end the way a new user would: no ETCD_ENDPOINTS, so it
// starts its own etcd; it must show a crash failover and drained graceful handoffs (the leader's
// step in flight finishes before the successor starts), clean up and exit 0.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('npm run demo: a local etcd, a crash failover, drained graceful handoffs, a clean exit', async (t) => {
  const env = { ...process.env };
  delete env.ETCD_ENDPOINTS;
  const child = spawn('npm', ['run', '--silent', 'demo'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    output += text;
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    output += text;
  });
  const started = Date.now();
  const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  clearTimeout(killer);
  const seconds = (Date.now() - started) / 1000;
  const failover =
    /failover: bravo leads (\d+) ms after the kill, ([\d.]+) ms after etcd expired the lease/.exec(output);
  const handoffs = [
    ...output.matchAll(
      /handoff: (\w+) leads ([\d.]+) ms after (\w+) was asked = ([\d.]+) ms drain \+ ([\d.]+) ms handoff/g,
    ),
  ];
  const gaps = [
    ...output.matchAll(/no overlap: (\w+)'s work started (-?[\d.]+) ms after (\w+)'s last step ended/g),
  ];
  t.diagnostic(
    `demo: ${seconds.toFixed(1)} s, failover ${failover?.[1]} ms after the kill (${failover?.[2]} ms after expiry), ` +
      `drained handoffs ${handoffs.map((h) => `${h[2]} ms (${h[4]} drain + ${h[5]} handoff)`).join(', ')}; ` +
      `successor started after the last step by ${gaps.map((g) => `${g[2]} ms`).join(', ')}`,
  );
  assert.equal(code, 0, `the demo exited with ${code}:\n${output}`);
  assert.match(output, /starting a throwaway local etcd/);
  assert.match(output, /SIGKILL alpha/);
  assert.ok(failover, `no failover line in:\n${output}`);
  assert.equal(handoffs.length, 3, `three handoff lines in:\n${output}`);
  assert.deepEqual(
    handoffs.map((h) => `${h[3]}->${h[1]}`),
    ['bravo->charlie', 'charlie->bravo', 'bravo->charlie'],
  );
  // The new leader waited for etcd to expire the killed leader's lease, then took over at once.
  assert.ok(Number(failover[1]) > 1000, 'the failover respected the TTL');
  assert.ok(Number(failover[2]) < 1000);
  // The drain is visible (a step in flight finished first) and the successor never overlapped it.
  assert.match(output, /drain requested \(DrainError\)/);
  assert.equal(gaps.length, 3, `three overlap lines in:\n${output}`);
  for (const g of gaps) assert.ok(Number(g[2]) >= 0, `${g[1]} started ${g[2]} ms after ${g[3]}'s last step`);
  for (const h of handoffs) assert.ok(Number(h[5]) < 1000, `the handoff after the drain took ${h[5]} ms`);
  assert.match(output, /summary/);
  // Its etcd data dir is gone.
  const dir = /data in (\S+), removed at exit/.exec(output)?.[1];
  assert.ok(dir, 'the demo names its etcd data dir');
  assert.equal(existsSync(dir), false, `${dir} was left behind`);
  assert.ok(seconds < 45, `the demo took ${seconds} s`);
});
