// Type tests of the package test: compiled (never run) with tsc --strict under moduleResolution
// node16, nodenext and bundler against the installed tarball. A line that should not compile
// carries @ts-expect-error, so it fails the compile if it ever does.

import { type MeterProvider, metrics } from '@opentelemetry/api';
import {
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  fallback,
  handleAll,
  retry,
  TimeoutStrategy,
  timeout,
  wrap,
} from 'cockatiel';
import * as cockatiel3 from 'cockatiel3';
import {
  type Concord,
  type ConcordErrorCode,
  type ConcordEvent,
  type ConcordOptions,
  type ConnectionState,
  Election,
  isConcordError,
  type KeyValue,
  type LockHandle,
  Mutex,
  RWLock,
  Semaphore,
} from 'concord-etcd';
import { type Instrumentation, instrument } from 'concord-etcd/otel';
import { map, type Observable } from 'rxjs';

// Policies of the app's own cockatiel 4 fit `policies`...
export const withCockatiel4: ConcordOptions = {
  policies: {
    global: wrap(
      retry(handleAll, { maxAttempts: 3, backoff: new ExponentialBackoff() }),
      circuitBreaker(handleAll, { halfOpenAfter: 1_000, breaker: new ConsecutiveBreaker(3) }),
    ),
    host: () => timeout(2_000, TimeoutStrategy.Aggressive),
    reconnect: new ExponentialBackoff({ initialDelay: 10, maxDelay: 500 }),
  },
};

// ...and so do cockatiel 3's, the major concord itself uses.
export const withCockatiel3: ConcordOptions = {
  policies: {
    global: cockatiel3.retry(cockatiel3.handleAll, { maxAttempts: 3 }),
    host: () => cockatiel3.timeout(2_000, cockatiel3.TimeoutStrategy.Cooperative),
    reconnect: new cockatiel3.ConstantBackoff(100),
  },
};

export const withFallback: ConcordOptions = {
  // @ts-expect-error a fallback policy would hand etcd3 its fallback value in place of etcd's answer
  policies: { global: fallback(handleAll, 'stale') },
};

// The guard narrows to the class of the code it is given.
export function describeError(err: unknown): string {
  if (isConcordError(err, 'INVALID_ARGUMENT')) return `${err.argument} ${err.rule}`;
  if (isConcordError(err, 'CONFIG_VALIDATION')) return err.issues.join('; ');
  if (isConcordError(err)) {
    const code: ConcordErrorCode = err.code;
    return code;
  }
  // @ts-expect-error not a concord error code
  isConcordError(err, 'NO_SUCH_CODE');
  return String(err);
}

// Observables take the app's rxjs operators (rxjs is a peer dependency: one copy).
export function keysUnder(concord: Concord, prefix: string): Observable<number> {
  return concord.view({ prefix }).pipe(map((view) => view.entries.size));
}
export const states = (concord: Concord): Observable<ConnectionState> => concord.state$;

// Handles are AsyncDisposable.
export async function guarded(concord: Concord): Promise<boolean> {
  await using lock: LockHandle = await concord.mutex('jobs').lock();
  return lock.txn([{ type: 'put', key: 'job-state', value: 'done' }]);
}

// Primitives come from a Concord; their constructors are private, so `new` does not compile.
export function noPublicConstructors(): unknown[] {
  return [
    // @ts-expect-error Mutex has no public constructor: use concord.mutex()
    new Mutex(),
    // @ts-expect-error RWLock has no public constructor: use concord.rwlock()
    new RWLock(),
    // @ts-expect-error Semaphore has no public constructor: use concord.semaphore()
    new Semaphore(),
    // @ts-expect-error Election has no public constructor: use concord.election()
    new Election(),
  ];
}

// concord.kv reads under the namespace: a KeyValue, or undefined for a missing key.
export async function readBalance(concord: Concord): Promise<number> {
  const kv: KeyValue | undefined = await concord.kv.get('balance');
  return Number(kv?.value.toString() ?? '0');
}

// A pino-style logger can be named as such.
export const withPinoStyle: ConcordOptions = { logger: console, loggerStyle: 'fields-first' };

// events$ is a discriminated union: narrowing on `type` gives each event its own fields.
export function waits(concord: Concord): Observable<number> {
  return concord.events$.pipe(
    map((event: ConcordEvent) => (event.type === 'lock.acquired' ? event.waitMs : 0)),
  );
}

// concord-etcd/otel takes { meterProvider } or the provider itself, on the app's @opentelemetry/api.
export function instrumented(
  concord: Concord,
  provider: MeterProvider = metrics.getMeterProvider(),
): Instrumentation[] {
  return [
    instrument(concord),
    instrument(concord, provider),
    instrument(concord, { meterProvider: provider }),
    // @ts-expect-error not a meter provider
    instrument(concord, { meterProvider: 'prometheus' }),
  ];
}
