// The ESM program of the package test: day-one code against the installed tarball, compiled by
// tsc (nodenext) and run against a real etcd on the current Node and on the `engines` floor.
// It prints one JSON line of findings; the test asserts on them.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
// The app's own cockatiel is major 4; concord-etcd and etcd3 keep their cockatiel 3.
import { metrics } from '@opentelemetry/api';
import { ExponentialBackoff, handleAll, retry } from 'cockatiel';
import { Concord, InvalidArgumentError, isConcordError, type Leadership } from 'concord-etcd';
import { instrument } from 'concord-etcd/otel';
import { filter, firstValueFrom, Observable, type Subscription } from 'rxjs';

const concord = new Concord({
  endpoints: process.env.ETCD_ENDPOINTS ?? '127.0.0.1:2379',
  namespace: `consumer-esm-${process.pid}/`,
  policies: { global: retry(handleAll, { maxAttempts: 2 }), reconnect: new ExponentialBackoff() },
});
const found: Record<string, unknown> = { module: 'esm', node: process.version };
// The optional OpenTelemetry entry, on the app's own @opentelemetry/api (its global no-op provider).
const instrumentation = instrument(concord, { meterProvider: metrics.getMeterProvider() });

// rxjs is a peer dependency: concord's observables are instances of the app's own rxjs.
found.sameRxjs = concord.state$ instanceof Observable;

// `await using` compiles to Symbol.asyncDispose, which Node has from 20.4.0 on.
{
  await using lock = await concord.mutex('jobs').lock({ signal: AbortSignal.timeout(5_000) });
  found.fencingToken = typeof lock.fencingToken;
  found.committed = await lock.txn([{ type: 'put', key: 'job-state', value: 'done' }]);
}
const again = await concord.mutex('jobs').tryLock();
found.releasedOnDispose = again !== undefined;
await again?.release();

// A campaign holds its leadership while subscribed (firstValueFrom would resign at once).
const election = concord.election('cron');
let campaign: Subscription | undefined;
const leadership = await new Promise<Leadership>((resolve, reject) => {
  campaign = election.campaign('esm-program').subscribe({ next: resolve, error: reject });
});
found.term = typeof leadership.term;
found.leader = (await election.leader())?.value;
campaign?.unsubscribe();

const view = await firstValueFrom(
  concord.view({ prefix: '' }).pipe(filter((v) => v.entries.has('job-state'))),
);
found.viewed = view.entries.get('job-state')?.value.toString();

try {
  new Concord({ endpoints: 'not an endpoint' });
} catch (err) {
  found.sameBuildInstanceof = err instanceof InvalidArgumentError;
  found.sameBuildGuard = isConcordError(err, 'INVALID_ARGUMENT') && err.argument === 'options.endpoints';
  // The CommonJS build in the same process has classes of its own: instanceof fails across the
  // two builds, the guard does not.
  const cjs: typeof import('concord-etcd') = createRequire(import.meta.url)('concord-etcd');
  found.otherBuildInstanceof = err instanceof cjs.ConcordError;
  found.otherBuildGuard = cjs.isConcordError(err, 'INVALID_ARGUMENT');
}

instrumentation.stop();
found.otel = 'stopped';
await concord.close();
await assert.rejects(concord.session(), (err) => isConcordError(err, 'CLOSED'));
found.closed = true;
console.log(JSON.stringify(found));
