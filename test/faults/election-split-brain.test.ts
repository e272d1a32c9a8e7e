// Split-brain check: three candidate processes campaign for 60 s while the test SIGKILLs, pauses
// (SIGSTOP) and cuts or blackholes them at random. Every leader keeps writing history/<term>/<seq>
// through leadership.txn (guarded by its term). Afterwards the history in etcd, in revision order,
// must never go back to an older term: no two leaders' writes ever interleave.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type EtcdCluster, startCluster } from '../support/etcd.js';
import { startProxy, type TcpProxy } from '../support/proxy.js';
import { sleep, waitUntil } from '../support/wait.js';
import { spawnWorker, type Worker, type WorkerMessage } from '../support/worker.js';

const CANDIDATE = fileURLToPath(new URL('../../examples/workers/candidate.ts', import.meta.url));
const TTL = 2;
const DURATION_MS = Number(process.env.SPLIT_BRAIN_MS ?? 60_000);
const NAMESPACE = 'split/';
const now = () => performance.timeOrigin + performance.now();

interface Slot {
  index: number;
  proxy: TcpProxy;
  worker: Worker;
  generation: number;
  busy: boolean;
}

let cluster: EtcdCluster;
const slots: Slot[] = [];
const everyWorker: Worker[] = [];

before(async () => {
  cluster = await startCluster();
});

after(async () => {
  await Promise.all(everyWorker.map((w) => w.kill()));
  await Promise.all(slots.map((s) => s.proxy.close()));
  await cluster?.stop();
});

function spawnCandidate(slot: { index: number; proxy: TcpProxy; generation: number }): Worker {
  const worker = spawnWorker(CANDIDATE, {
    env: {
      ETCD_ENDPOINTS: slot.proxy.endpoint,
      CONCORD_NAMESPACE: NAMESPACE,
      ELECTION: 'split',
      CANDIDATE: `s${slot.index}.${slot.generation}`,
      TTL: String(TTL),
      RECAMPAIGN: '1',
      WORK_EVERY_MS: '20',
    },
  });
  everyWorker.push(worker);
  return worker;
}

/** A small seeded PRNG (mulberry32), so a failing schedule can be replayed with SPLIT_BRAIN_SEED. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** True when the slot's worker last reported being elected (it believes it leads). */
function leads(slot: Slot): boolean {
  const last = slot.worker
    .all()
    .filter((m) => m.type === 'elected' || m.type === 'lost' || m.type === 'resigned')
    .at(-1);
  return last?.type === 'elected';
}

test('no two leaders ever commit interleaved writes while processes are killed, paused and cut', async () => {
  const seed = Number(process.env.SPLIT_BRAIN_SEED ?? Date.now() % 1_000_000);
  const rnd = random(seed);
  console.log(`split-brain: seed ${seed}, ${DURATION_MS} ms of faults`);
  for (let index = 0; index < 3; index++) {
    const proxy = await startProxy(cluster.endpoints[0]!);
    slots.push({
      index,
      proxy,
      generation: 0,
      busy: false,
      worker: spawnCandidate({ index, proxy, generation: 0 }),
    });
  }
  await waitUntil(() => slots.some(leads), { timeoutMs: 20_000, message: 'a first leader' });

  const faults: Record<string, number> = { kill: 0, pause: 0, cut: 0, blackhole: 0 };
  const running: Array<Promise<void>> = [];
  const faultsEnd = now() + DURATION_MS;
  while (now() < faultsEnd) {
    await sleep(250 + rnd() * 1000);
    const free = slots.filter((s) => !s.busy);
    if (free.length === 0) continue;
    // Aim at the leader more often than not: that is where split brain would happen.
    const leader = free.find(leads);
    const slot = leader && rnd() < 0.6 ? leader : free[Math.floor(rnd() * free.length)]!;
    const kind = (['kill', 'pause', 'pause', 'cut', 'blackhole'] as const)[Math.floor(rnd() * 5)]!;
    const hold = 300 + rnd() * 3_700; // sometimes well past the TTL, sometimes not
    faults[kind]!++;
    slot.busy = true;
    running.push(
      (async () => {
        if (kind === 'kill') {
          await slot.worker.kill('SIGKILL');
          await sleep(rnd() * 1_000);
          slot.generation++;
          slot.worker = spawnCandidate(slot);
        } else if (kind === 'pause') {
          slot.worker.pause();
          await sleep(hold);
          slot.worker.resume();
        } else if (kind === 'cut') {
          slot.proxy.cut();
        } else {
          slot.proxy.blackhole();
          await sleep(hold);
          slot.proxy.restore();
        }
        slot.busy = false;
      })(),
    );
  }
  await Promise.all(running);
  const stoppedAt = now();

  // After the faults stop, some leader commits again within TTL + 1 s.
  const firstWriteAfter = (): number | undefined => {
    const times = everyWorker.flatMap((w) =>
      w
        .all()
        .filter((m) => m.type === 'write' && m.ok === true && Number(m.at) >= stoppedAt)
        .map((m) => Number(m.done)),
    );
    return times.length > 0 ? Math.min(...times) : undefined;
  };
  await waitUntil(() => firstWriteAfter() !== undefined, {
    timeoutMs: (TTL + 5) * 1000,
    message: 'a leader writing after the faults stopped',
  });
  const recoveryMs = firstWriteAfter()! - stoppedAt;
  await sleep(300);
  for (const w of everyWorker) w.send({ cmd: 'exit' });
  // A worker that does not exit within 15 s is killed: its exit code (null) then fails the check below.
  const exits = await Promise.all(
    slots.map(async ({ worker }) => {
      const timer = setTimeout(() => void worker.kill(), 15_000);
      const code = await worker.exited;
      clearTimeout(timer);
      return code;
    }),
  );
  assert.deepEqual(
    exits,
    [0, 0, 0],
    `every candidate closes cleanly on request:\n${slots.map((s) => s.worker.stderr().slice(-2000)).join('\n')}`,
  );

  // The history as etcd committed it, in revision order.
  const range = Buffer.from(`${NAMESPACE}history/`);
  const res = await cluster.client().kv.range({
    key: range,
    range_end: Buffer.from(`${NAMESPACE}history0`),
    sort_target: 'Mod',
    sort_order: 'Ascend',
  });
  const committed = res.kvs.map((kv) => {
    const [, , term, seq] = kv.key.toString().split('/');
    return {
      key: kv.key.toString(),
      term: BigInt(term!),
      seq: Number(seq),
      revision: BigInt(kv.mod_revision),
    };
  });
  const messages: WorkerMessage[] = everyWorker.flatMap((w) => w.all());
  const elected = messages.filter((m) => m.type === 'elected');
  const writes = messages.filter((m) => m.type === 'write');
  const okWrites = writes.filter((m) => m.ok === true);
  const refused = writes.filter((m) => m.ok === false && m.error === undefined).length;
  const failedCalls = writes.filter((m) => m.error !== undefined).length;
  const losses = messages.filter((m) => m.type === 'lost').length;
  const terms = [...new Set(committed.map((c) => c.term))];
  console.log(
    `split-brain: faults ${JSON.stringify(faults)}; ${elected.length} elections, ${terms.length} terms wrote, ` +
      `${committed.length} writes committed, ${refused} refused by the term guard, ${failedCalls} failed in transit, ` +
      `${losses} losses; a leader wrote again ${recoveryMs.toFixed(0)} ms after the faults stopped`,
  );

  // 1. In revision order the term never goes back: no older leader committed after a newer one.
  for (let i = 1; i < committed.length; i++) {
    assert.ok(
      committed[i]!.term >= committed[i - 1]!.term,
      `term ${committed[i]!.term} wrote at revision ${committed[i]!.revision}, but term ${committed[i - 1]!.term} wrote at revision ${committed[i - 1]!.revision} before it: interleaved leaders`,
    );
    // Within one term the leader's writes are in its own order.
    if (committed[i]!.term === committed[i - 1]!.term) assert.ok(committed[i]!.seq > committed[i - 1]!.seq);
  }
  // 2. Every write a leader was told committed is in etcd; every term was won by exactly one process.
  const keys = new Set(committed.map((c) => `${c.term}/${c.seq}`));
  for (const w of okWrites)
    assert.ok(keys.has(`${w.term}/${w.seq}`), `write ${w.term}/${w.seq} reported committed`);
  const electedTerms = elected.map((m) => String(m.term));
  assert.equal(new Set(electedTerms).size, electedTerms.length, 'a term was won twice');
  for (const term of terms)
    assert.ok(electedTerms.includes(String(term)), `term ${term} wrote but nobody won it`);
  // 3. The faults really moved the leadership around, and a leader came back in time.
  assert.ok(terms.length >= 5, `only ${terms.length} leaders wrote`);
  assert.ok(recoveryMs < TTL * 1000 + 1000, `no leader for ${recoveryMs} ms after the faults stopped`);
});
