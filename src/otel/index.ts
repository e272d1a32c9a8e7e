import { type Attributes, type BatchObservableResult, type MeterProvider, metrics } from '@opentelemetry/api';
import {
  type Concord,
  type ConcordEvent,
  type EventOf,
  InvalidArgumentError,
  type LockSubject,
  type WatchStats,
} from 'concord-etcd';
import type { Subscription } from 'rxjs';
import { LockHandoffs } from './handoffs.js';
import { createInstruments, type Instruments } from './instruments.js';

/** Options of {@link instrument}. */
export interface InstrumentOptions {
  /** Where the metrics go. Default: the global one (`metrics.getMeterProvider()` of `@opentelemetry/api`). */
  meterProvider?: MeterProvider;
}

/** What {@link instrument} returns: stops recording. */
export interface Instrumentation extends Disposable {
  /**
   * Stops recording: unsubscribes from `concord.events$` and removes the observable instruments'
   * callback. Idempotent; also happens by itself when the Concord closes.
   */
  stop(): void;
}

const CONNECTION_STATES = ['connecting', 'connected', 'disconnected', 'closed'] as const;

/**
 * Records OpenTelemetry metrics of `concord` from its `events$` and its `watchStats()` /
 * `sessionStats()`: histograms of lock waits, holds and handoffs, campaign waits, leaderships and
 * keepalive round trips; counters of losses, leader changes, reconnects, stalls, resyncs,
 * ejections, re-registrations, config rejections, scoped-work stops and drain timeouts, failed
 * calls by error code; counts of open sessions, watch streams, server-side watches, subscribers and
 * connections by state; a gauge of the shortest lease budget. The README lists every metric and its
 * attributes. Attributes name locks, elections, services and config prefixes (keep those names
 * bounded: a name per job id makes a series per job), never keys' values or credentials.
 *
 * The second argument is `{ meterProvider }` or the MeterProvider itself; without one the global
 * provider is used. Events before the call are not recorded: call it right after `new Concord()`.
 * Throws `InvalidArgumentError` for something that is not a Concord or not a MeterProvider.
 */
export function instrument(concord: Concord, options?: InstrumentOptions | MeterProvider): Instrumentation {
  if (
    concord === null ||
    typeof concord !== 'object' ||
    typeof concord.watchStats !== 'function' ||
    typeof concord.events$?.subscribe !== 'function'
  ) {
    throw new InvalidArgumentError('concord', 'must be a Concord', concord);
  }
  const provider = meterProviderOf(options);
  return new Recorder(concord, provider);
}

function meterProviderOf(options: InstrumentOptions | MeterProvider | undefined): MeterProvider {
  if (options === undefined) return metrics.getMeterProvider();
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError('options', 'must be { meterProvider } or a MeterProvider', options);
  }
  if (typeof (options as MeterProvider).getMeter === 'function') return options as MeterProvider;
  const { meterProvider } = options as InstrumentOptions;
  if (meterProvider === undefined) return metrics.getMeterProvider();
  if (typeof meterProvider?.getMeter !== 'function') {
    throw new InvalidArgumentError('options.meterProvider', 'must be a MeterProvider', meterProvider);
  }
  return meterProvider;
}

function lockAttributes(event: LockSubject): Attributes {
  const attributes: Attributes = {
    'concord.lock.primitive': event.primitive,
    'concord.lock.name': event.name,
  };
  if (event.mode !== undefined) attributes['concord.lock.mode'] = event.mode;
  return attributes;
}

type Handlers = { [T in ConcordEvent['type']]?: (event: EventOf<T>) => void };

/** One `instrument()` call: the event subscription, the handoff bookkeeping and the observable instruments' callback. */
class Recorder implements Instrumentation {
  readonly #concord: Concord;
  readonly #meter;
  readonly #m: Instruments;
  readonly #handoffs = new LockHandoffs();
  readonly #handlers: Handlers;
  readonly #subscription: Subscription;
  readonly #observe = (result: BatchObservableResult) => this.#collect(result);
  #connection: (typeof CONNECTION_STATES)[number] = 'connecting';
  #stopped = false;

  constructor(concord: Concord, provider: MeterProvider) {
    this.#concord = concord;
    this.#meter = provider.getMeter('concord-etcd');
    this.#m = createInstruments(this.#meter);
    this.#handlers = this.#createHandlers();
    this.#meter.addBatchObservableCallback(this.#observe, Object.values(this.#m.observed));
    this.#subscription = concord.events$.subscribe({
      next: (event) => (this.#handlers[event.type] as ((e: ConcordEvent) => void) | undefined)?.(event),
      complete: () => this.stop(),
    });
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    // Undefined only when events$ completed during the constructor (a closed Concord).
    this.#subscription?.unsubscribe();
    this.#meter.removeBatchObservableCallback(this.#observe, Object.values(this.#m.observed));
  }

  [Symbol.dispose](): void {
    this.stop();
  }

  #createHandlers(): Handlers {
    const m = this.#m;
    const s = (ms: number) => ms / 1000;
    const election = (name: string) => ({ 'concord.election.name': name });
    return {
      'lock.waiting': (e) => this.#handoffs.waiting(e),
      'lock.abandoned': (e) => this.#handoffs.abandoned(e),
      'lock.acquired': (e) => {
        m.lockWait.record(s(e.waitMs), lockAttributes(e));
        const handoffMs = this.#handoffs.acquired(e);
        if (handoffMs !== undefined) m.lockHandoff.record(s(handoffMs), lockAttributes(e));
      },
      'lock.released': (e) => {
        this.#handoffs.ended(e);
        m.lockHold.record(s(e.holdMs), { ...lockAttributes(e), 'concord.lock.outcome': 'released' });
      },
      'lock.lost': (e) => {
        this.#handoffs.ended(e);
        const attributes = lockAttributes(e);
        m.lockHold.record(s(e.holdMs), { ...attributes, 'concord.lock.outcome': 'lost' });
        m.lockLosses.add(1, { ...attributes, 'concord.loss.reason': e.reason });
      },
      'election.elected': (e) => m.campaignWait.record(s(e.waitMs), election(e.name)),
      'election.resigned': (e) =>
        m.leadership.record(s(e.holdMs), { ...election(e.name), 'concord.election.outcome': 'resigned' }),
      'election.lost': (e) => {
        m.leadership.record(s(e.holdMs), { ...election(e.name), 'concord.election.outcome': 'lost' });
        m.leadershipLosses.add(1, { ...election(e.name), 'concord.loss.reason': e.reason });
      },
      'leader.changed': (e) => m.leaderChanges.add(1, election(e.name)),
      'session.keepalive': (e) => m.keepaliveRtt.record(s(e.rttMs)),
      'session.state': (e) => {
        if (e.status === 'lost') m.sessionLosses.add(1, { 'concord.loss.reason': e.reason ?? 'unknown' });
      },
      'watch.reconnected': () => m.watchReconnects.add(1),
      'watch.stalled': () => m.watchStalls.add(1),
      'watch.resync': () => m.watchResyncs.add(1),
      'work.stopping': (e) =>
        m.workStops.add(1, { 'concord.work.primitive': e.primitive, 'concord.work.cause': e.cause }),
      'work.drain-timeout': (e) => m.workDrainTimeouts.add(1, { 'concord.work.primitive': e.primitive }),
      'registration.state': (e) => {
        if (e.status === 'reregistering') m.reregistrations.add(1, { 'concord.service.name': e.service });
      },
      'instance.ejected': (e) => m.ejections.add(1, { 'concord.service.name': e.service }),
      'config.rejected': (e) => m.configRejections.add(1, { 'concord.config.prefix': e.prefix }),
      'call.failed': (e) => m.callFailures.add(1, { 'concord.error.code': e.code }),
      'connection.state': (e) => {
        this.#connection = e.state;
      },
    };
  }

  /** The observable instruments, read when the SDK collects. */
  #collect(result: BatchObservableResult): void {
    const { observed } = this.#m;
    for (const state of CONNECTION_STATES) {
      result.observe(observed.connections, state === this.#connection ? 1 : 0, {
        'concord.connection.state': state,
      });
    }
    const sessions = this.#concord.sessionStats();
    result.observe(observed.sessions, sessions.open);
    if (sessions.shortestTimeLeftMs !== undefined) {
      result.observe(observed.shortestLease, sessions.shortestTimeLeftMs / 1000);
    }
    let watches: WatchStats;
    try {
      watches = this.#concord.watchStats();
    } catch {
      // The Concord is closing: it has no watches left to count.
      return;
    }
    result.observe(observed.streams, watches.streams);
    result.observe(observed.upstreamWatches, watches.upstreamWatches);
    result.observe(observed.subscribers, watches.subscribers);
  }
}
