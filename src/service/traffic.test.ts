// Discovery for real traffic, against a real etcd: outlier ejection (thresholds, cap, growth,
// re-registration), draining (seen by every consumer, kept across re-registration), zone
// preference with fallback, and weights.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { filter, firstValueFrom, type Observable, timeout } from 'rxjs';
import { cleanupAfterEach } from '../../test/support/cleanup.js';
import { useCluster } from '../../test/support/fixture.js';
import { waitUntil } from '../../test/support/wait.js';
import { Concord } from '../concord.js';
import { ClosedError, InvalidArgumentError } from '../errors.js';
import type { Picker } from './picker.js';
import type { Registration } from './registration.js';
import type { PickerOptions, RegistrationState, ServiceInstance } from './types.js';

const fixture = useCluster();
let seq = 0;
const cleanup = cleanupAfterEach();

/** Concords in one fresh namespace (as separate processes would have), closed after the test. */
function namespace(): {
  ns: string;
  open: (log?: (message: string, fields?: Record<string, unknown>) => void) => Concord;
} {
  const ns = `traffic-test-${++seq}/`;
  return {
    ns,
    open: (log) => {
      const concord = new Concord({
        endpoints: fixture.cluster.endpoints,
        namespace: ns,
        logger: log ? { info: log } : undefined,
      });
      cleanup.push(() => concord.close());
      return concord;
    },
  };
}

/** Registers `ids` of service `svc` (id → meta) and returns the registrations by id. */
async function register(
  concord: Concord,
  instances: Record<string, Record<string, unknown> | undefined>,
): Promise<Map<string, Registration>> {
  const registry = concord.registry();
  const out = new Map<string, Registration>();
  for (const [id, meta] of Object.entries(instances)) {
    out.set(
      id,
      await registry.register({ service: 'svc', id, address: `${id}.local:80`, ...(meta ? { meta } : {}) }),
    );
  }
  return out;
}

/** A picker on `concord` for `svc` that has loaded a list of `count` instances. */
async function pickerWith(concord: Concord, count: number, options?: PickerOptions): Promise<Picker> {
  const picker = concord.discovery().picker('svc', options);
  cleanup.push(() => picker.close());
  await waitUntil(() => picker.instances.length === count, { message: `${count} instances listed` });
  return picker;
}

/** The ids of `n` picks, sorted and counted: e.g. { a: 3, c: 3 }. */
function tally(picker: Picker, n: number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const id = picker.next()?.id ?? '-';
    counts[id] = (counts[id] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(counts).sort());
}

function until<T>(source: Observable<T>, pred: (v: T) => boolean, ms = 10_000): Promise<T> {
  return firstValueFrom(source.pipe(filter(pred), timeout(ms)));
}

const listed = (picker: Picker, id: string): ServiceInstance => {
  const found = picker.instances.find((i) => i.id === id);
  assert.ok(found, `${id} is listed`);
  return found;
};

describe('outlier ejection', () => {
  test('afterErrors errors in a row eject; never more than maxPercent at once; ok resets the count', async () => {
    const { open } = namespace();
    const concord = open();
    await register(concord, { a: undefined, b: undefined, c: undefined, d: undefined });
    const picker = await pickerWith(concord, 4, { eject: { afterErrors: 2, forMs: 60_000, maxPercent: 50 } });
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((id) => listed(picker, id)) as ServiceInstance[];
    picker.report(a!, 'error');
    picker.report(a!, 'ok');
    picker.report(a!, 'error');
    assert.deepEqual(tally(picker, 8), { a: 2, b: 2, c: 2, d: 2 }, 'one error in a row: still picked');
    picker.report(b!, 'error');
    picker.report(b!, 'error');
    assert.deepEqual(tally(picker, 6), { a: 2, c: 2, d: 2 }, 'b ejected after 2 errors');
    picker.report(c!, 'error');
    picker.report(c!, 'error');
    assert.deepEqual(tally(picker, 4), { a: 2, d: 2 }, 'c ejected: 2 of 4 out');
    for (let i = 0; i < 5; i++) picker.report(d!, 'error');
    assert.deepEqual(tally(picker, 4), { a: 2, d: 2 }, 'd stays: 50% of 4 are out already');
  });

  test('ejections grow from forMs, doubling up to maxForMs; the instance is never picked before its time', async (t) => {
    const { open } = namespace();
    const ejections: number[] = [];
    const concord = open((message, fields) => {
      if (message.startsWith('picker ejected')) ejections.push(Number(fields?.forMs));
    });
    await register(concord, { a: undefined, b: undefined });
    const picker = await pickerWith(concord, 2, { eject: { afterErrors: 1, forMs: 100, maxForMs: 250 } });
    const a = listed(picker, 'a');
    const outFor: number[] = [];
    for (let round = 0; round < 4; round++) {
      // Taken before the report: the picker starts the ejection's clock inside report(), which
      // may take a few ms under load (logging, events) before it returns.
      const ejectedAt = performance.now();
      picker.report(a, 'error');
      // Poll as fast as the loop allows: the first pick of `a` is the moment it is back.
      while (picker.next()?.id !== 'a') await new Promise((resolve) => setImmediate(resolve));
      outFor.push(performance.now() - ejectedAt);
    }
    assert.deepEqual(ejections, [100, 200, 250, 250], 'doubling, capped at maxForMs');
    for (const [i, ms] of outFor.entries())
      assert.ok(ms >= ejections[i]! - 1, `ejection ${i} lasted ${ms} ms`);
    t.diagnostic(
      `ejected for ${outFor.map((ms) => ms.toFixed(0)).join(', ')} ms (policy 100, 200, 250, 250)`,
    );
    // An ok resets the growth: the next ejection lasts forMs again.
    picker.report(a, 'ok');
    picker.report(a, 'error');
    assert.deepEqual(ejections, [100, 200, 250, 250, 100]);
  });

  test('a re-registration (a new revision of the key) ends an ejection early; stale reports are ignored', async () => {
    const { open } = namespace();
    const concord = open();
    const regs = await register(concord, { a: undefined, b: undefined, c: undefined });
    const picker = await pickerWith(concord, 3, { eject: { afterErrors: 1, forMs: 600_000 } });
    const a = listed(picker, 'a');
    picker.report(a, 'error');
    assert.deepEqual(tally(picker, 4), { b: 2, c: 2 });
    // The lease goes (as when the registrant's session expires): it re-registers under a new one.
    const reg = regs.get('a')!;
    const registered = (await firstValueFrom(reg.state$)) as Extract<
      RegistrationState,
      { status: 'registered' }
    >;
    await fixture.cluster.client().leaseClient.leaseRevoke({ ID: registered.leaseId });
    await until(reg.state$, (s) => s.status === 'registered' && s.leaseId !== registered.leaseId);
    await waitUntil(() => listed(picker, 'a').revision > a.revision, { message: 'the new revision listed' });
    assert.deepEqual(tally(picker, 6), { a: 2, b: 2, c: 2 }, 'a is back at once');
    picker.report(a, 'error');
    assert.deepEqual(
      tally(picker, 6),
      { a: 2, b: 2, c: 2 },
      'a report about the old revision changes nothing',
    );
  });

  test('eject: false turns ejection off; reports are still checked', async () => {
    const { open } = namespace();
    const concord = open();
    await register(concord, { a: undefined, b: undefined });
    const picker = await pickerWith(concord, 2, { eject: false });
    const a = listed(picker, 'a');
    for (let i = 0; i < 10; i++) picker.report(a, 'error');
    assert.deepEqual(tally(picker, 4), { a: 2, b: 2 });
    assert.throws(() => picker.report(a, 'fail' as 'ok'), {
      name: 'InvalidArgumentError',
      message: /^outcome/,
    });
    assert.throws(() => picker.report({} as ServiceInstance, 'ok'), /^InvalidArgumentError: instance/);
  });
});

describe('draining', () => {
  test('drain(): every consumer stops picking the instance, which stays listed as draining; then deregister', async (t) => {
    const { open } = namespace();
    const registrant = open();
    const regs = await register(registrant, { a: undefined, b: undefined, c: undefined });
    // 50 consumers, each its own Concord (its own connection and watch), as 50 processes would be.
    // Each one's instances$ is served by the same shared list as its picker, in the same
    // callback: it timestamps the moment that picker stops choosing b.
    let start = 0;
    const seen: number[] = [];
    const pickers = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const consumer = open();
        const picker = await pickerWith(consumer, 3);
        let done = false;
        const sub = consumer
          .discovery()
          .instances$('svc')
          .subscribe((list) => {
            if (done || list.find((i) => i.id === 'b')?.status !== 'draining') return;
            done = true;
            assert.equal(tally(picker, 30).b, undefined, 'this picker no longer picks b');
            seen.push(performance.now() - start);
          });
        cleanup.push(() => sub.unsubscribe());
        return picker;
      }),
    );
    const found = open().discovery();
    const lists: ServiceInstance[][] = [];
    const sub = found.instances$('svc').subscribe((list) => lists.push(list));
    cleanup.push(() => sub.unsubscribe());
    for (const picker of pickers) assert.equal(tally(picker, 3).b, 1);

    start = performance.now();
    await regs.get('b')!.drain();
    const stored = performance.now() - start;
    await waitUntil(() => seen.length === pickers.length, { message: 'every consumer sees the drain' });
    for (const picker of pickers) assert.equal(tally(picker, 30).b, undefined, 'b is never picked');
    const sorted = seen.sort((x, y) => x - y);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1);
    t.diagnostic(
      `drain() → no consumer picks it, 50 consumers: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms (drain() resolved after ${stored.toFixed(1)} ms)`,
    );

    await waitUntil(() => lists.at(-1)?.find((i) => i.id === 'b')?.status === 'draining', {
      message: 'listed as draining',
    });
    assert.deepEqual(
      lists.at(-1)!.map((i) => `${i.id} ${i.status}`),
      ['a serving', 'b draining', 'c serving'],
    );
    assert.equal(regs.get('b')!.draining, true);
    assert.equal((await firstValueFrom(regs.get('b')!.state$)).status, 'draining');
    await regs.get('b')!.drain(); // again: nothing to do
    await regs.get('b')!.deregister();
    await waitUntil(() => lists.at(-1)?.length === 2, { message: 'b gone after deregister' });
    await assert.rejects(regs.get('b')!.drain(), ClosedError);
  });

  test('a draining registration that re-registers after losing its lease stays draining', async () => {
    const { open, ns } = namespace();
    const concord = open();
    const reg = (await register(concord, { a: { zone: 'x' } })).get('a')!;
    await reg.update({ meta: { zone: 'y' } });
    await reg.drain();
    const state = (await firstValueFrom(reg.state$)) as Extract<RegistrationState, { status: 'draining' }>;
    assert.equal(state.status, 'draining');
    const seen: string[] = [];
    const sub = reg.state$.subscribe((s) => seen.push(s.status));
    cleanup.push(() => sub.unsubscribe());
    await fixture.cluster.client().leaseClient.leaseRevoke({ ID: state.leaseId });
    await until(reg.state$, (s) => s.status === 'draining' && s.leaseId !== state.leaseId);
    assert.deepEqual(seen, ['draining', 'reregistering', 'draining']);
    const stored = JSON.parse(
      (await fixture.cluster.client().get(`${ns}services/svc/a`).string()) as string,
    ) as Record<string, unknown>;
    assert.equal(stored.status, 'draining');
    assert.deepEqual(stored.meta, { zone: 'y' });
    await reg.update({ address: 'a2.local:80' });
    const after = JSON.parse(
      (await fixture.cluster.client().get(`${ns}services/svc/a`).string()) as string,
    ) as Record<string, unknown>;
    assert.equal(after.status, 'draining', 'an update keeps it draining');
    assert.equal((await firstValueFrom(reg.state$)).status, 'draining');
  });

  test('a status written by another client: draining is honoured, an unknown one is skipped and reported', async () => {
    const { open, ns } = namespace();
    const concord = open();
    const discovery = concord.discovery();
    const errors: string[] = [];
    const sub = discovery.errors$.subscribe((e) => errors.push(`${e.key}: ${e.message}`));
    cleanup.push(() => sub.unsubscribe());
    const put = (id: string, value: unknown) =>
      fixture.cluster.client().put(`${ns}services/svc/${id}`).value(JSON.stringify(value));
    await put('a', { address: 'a:1', status: 'draining' });
    await put('b', { address: 'b:1', status: 'serving' });
    await put('c', { address: 'c:1', status: 'paused' });
    const picker = discovery.picker('svc');
    cleanup.push(() => picker.close());
    await waitUntil(() => picker.instances.length === 2);
    assert.deepEqual(
      picker.instances.map((i) => `${i.id} ${i.status}`),
      ['a draining', 'b serving'],
    );
    assert.deepEqual(tally(picker, 3), { b: 3 });
    await waitUntil(() => errors.length === 1);
    assert.deepEqual(errors, ["services/svc/c: value.status is neither 'serving' nor 'draining'"]);
  });
});

describe('zones and weights', () => {
  test('prefer: { zone } picks in the zone while any instance there qualifies, else falls back to all', async () => {
    const { open } = namespace();
    const concord = open();
    const regs = await register(concord, {
      a: { zone: 'x' },
      b: { zone: 'y' },
      c: { zone: 'x' },
      d: undefined,
    });
    const picker = await pickerWith(concord, 4, {
      prefer: { zone: 'x' },
      eject: { afterErrors: 1, forMs: 600_000 },
    });
    assert.deepEqual(tally(picker, 4), { a: 2, c: 2 });
    await regs.get('a')!.drain();
    await waitUntil(() => listed(picker, 'a').status === 'draining');
    assert.deepEqual(tally(picker, 4), { c: 4 }, 'c is the last one in x');
    picker.report(listed(picker, 'c'), 'error');
    assert.deepEqual(tally(picker, 4), { b: 2, d: 2 }, 'nothing qualifies in x: every serving instance');
    await regs.get('c')!.update({ meta: { zone: 'x', version: 2 } });
    await waitUntil(() => listed(picker, 'c').meta?.version === 2);
    assert.deepEqual(tally(picker, 4), { c: 4 }, 'c rewritten: back, and preferred again');
    const unknown = await pickerWith(concord, 4, { prefer: { zone: 'nowhere' } });
    assert.deepEqual(tally(unknown, 3), { b: 1, c: 1, d: 1 });
  });

  test('meta.weight: smooth weighted round-robin, and weighted random', async () => {
    const { open } = namespace();
    const concord = open();
    await register(concord, { a: { weight: 3 }, b: { weight: 1 }, c: undefined });
    const picker = await pickerWith(concord, 3);
    assert.deepEqual(tally(picker, 500), { a: 300, b: 100, c: 100 });
    assert.deepEqual(
      Array.from({ length: 5 }, () => picker.next()!.id),
      ['a', 'b', 'a', 'c', 'a'],
      'interleaved, not in runs',
    );
    const random = await pickerWith(concord, 3, { strategy: 'random' });
    const shares = tally(random, 5_000);
    assert.ok(Math.abs(shares.a! / 5_000 - 0.6) < 0.05, `a: ${shares.a}`);
  });
});

test('picker options are validated: InvalidArgumentError naming the option', async () => {
  const { open } = namespace();
  const discovery = open().discovery();
  const cases: Array<[unknown, RegExp]> = [
    [{ eject: true }, /^options\.eject must be false or an object/],
    [{ eject: { afterErrors: 0 } }, /^options\.eject\.afterErrors must be an integer from 1/],
    [{ eject: { afterErrors: 1.5 } }, /^options\.eject\.afterErrors/],
    [{ eject: { forMs: 0 } }, /^options\.eject\.forMs must be an integer from 1/],
    [{ eject: { forMs: 1_000, maxForMs: 999 } }, /^options\.eject\.maxForMs must be an integer from 1000/],
    [{ eject: { maxForMs: 1_000 } }, /^options\.eject\.maxForMs must be an integer from 30000/],
    [{ eject: { maxPercent: 101 } }, /^options\.eject\.maxPercent must be a number from 0 to 100/],
    [{ eject: { maxPercent: '50' } }, /^options\.eject\.maxPercent/],
    [{ eject: { after: 3 } }, /^options\.eject\.after is not a known option/],
    [{ prefer: { zone: '' } }, /^options\.prefer\.zone must not be empty/],
    [{ prefer: {} }, /^options\.prefer\.zone must be a string/],
    [{ prefer: 'x' }, /^options\.prefer must be an object/],
    [{ weights: true }, /^options\.weights is not a known option/],
  ];
  for (const [options, message] of cases) {
    assert.throws(
      () => discovery.picker('svc', options as PickerOptions),
      (err: unknown) => err instanceof InvalidArgumentError && message.test(err.message),
      JSON.stringify(options),
    );
  }
});
