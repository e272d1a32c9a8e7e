import type { Etcd3 } from 'etcd3';
import { BehaviorSubject, distinctUntilChanged, Observable } from 'rxjs';
import { NotConnectedError } from '../errors.js';
import { errorText } from './error-text.js';
import type { EventBus } from './events.js';
import type { Log } from './log.js';

/**
 * Where the client stands with etcd: `connecting` until the first evidence either way,
 * `connected` while etcd answers, `disconnected` once a call, stream or probe could not reach it
 * (also when it never could: a wrong endpoint, or etcd down at start). `closed` is final.
 */
export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'closed';

/**
 * Bounds a one-shot wait (`config.load()`, `picker.ready()`, a lock or campaign before it wrote
 * its key): runs `wait` with a signal that aborts with the caller's `signal`, or with a
 * {@link NotConnectedError} once etcd has been unreachable for the Concord's `connectTimeoutMs`
 * in a row. See {@link ConnectionMonitor.bounded}.
 */
export type BoundedWait = <T>(
  what: string,
  signal: AbortSignal | undefined,
  wait: (signal: AbortSignal) => Promise<T>,
) => Promise<T>;

/** What the monitor needs besides the client: its timings and the endpoints it names in errors. */
export interface MonitorSettings {
  probeIntervalMs: number;
  connectTimeoutMs: number;
  endpoints: readonly string[];
}

/**
 * Follows whether etcd answers. Concord's own streams report what they see (a watch or
 * keepalive response means connected, a broken stream means disconnected); while anyone
 * observes `state$` or a bounded wait runs, a cheap probe also runs every `probeIntervalMs` so
 * the state follows the server even when nothing else is talking to it.
 */
export class ConnectionMonitor {
  private readonly subject = new BehaviorSubject<ConnectionState>('connecting');
  private observers = 0;
  private timer: NodeJS.Timeout | undefined;
  private probing = false;
  /** Why etcd was last found unreachable: named in the errors of bounded waits. */
  private lastFailure: string | undefined;

  /** Distinct connection states, current one first; completes after `closed`. */
  readonly state$: Observable<ConnectionState>;

  constructor(
    private readonly etcd: Etcd3,
    private readonly settings: MonitorSettings,
    private readonly log: Log,
    private readonly events: EventBus,
  ) {
    this.state$ = new Observable<ConnectionState>((subscriber) => {
      const sub = this.subject.pipe(distinctUntilChanged()).subscribe(subscriber);
      if (this.subject.value !== 'closed') this.addObserver();
      return () => {
        sub.unsubscribe();
        this.removeObserver();
      };
    });
  }

  /** The latest known state. */
  get current(): ConnectionState {
    return this.subject.value;
  }

  /**
   * Records evidence from a stream or call: `true` when etcd answered, `false` (with the failure)
   * when it could not be reached, whether or not it ever was.
   */
  report(reachable: boolean, failure?: unknown): void {
    const state = this.subject.value;
    if (state === 'closed') return;
    if (!reachable && failure !== undefined) this.lastFailure = errorText(failure);
    const next: ConnectionState = reachable ? 'connected' : 'disconnected';
    if (next === state) return;
    if (reachable) this.log.info('etcd connection connected');
    else {
      this.log.warn('etcd connection disconnected: etcd is not reachable; retrying', {
        endpoints: this.settings.endpoints.join(','),
        error: this.lastFailure,
      });
    }
    this.next(next);
  }

  /**
   * {@link BoundedWait}: `wait` gets a signal that aborts with `signal`'s reason, or with a
   * {@link NotConnectedError} naming `what`, the endpoints and the last failure once the state
   * has not been `connected` for `connectTimeoutMs` in a row. While it is not `connected`, the
   * state is probed as if `state$` were observed (so a stale state is corrected); a healthy
   * connection costs no probe.
   */
  readonly bounded: BoundedWait = async (what, signal, wait) => {
    const deadline = new AbortController();
    const { connectTimeoutMs, endpoints } = this.settings;
    let timer: NodeJS.Timeout | undefined;
    const expire = () => {
      const why = this.lastFailure === undefined ? '' : `; last error: ${this.lastFailure}`;
      const message = `${what}: etcd is not reachable at ${endpoints.join(',')} (no answer for ${connectTimeoutMs} ms${why})`;
      deadline.abort(new NotConnectedError(message));
    };
    let probing = false;
    const follow = (state: ConnectionState) => {
      const down = state === 'connecting' || state === 'disconnected';
      if (down) timer ??= setTimeout(expire, connectTimeoutMs);
      else {
        clearTimeout(timer);
        timer = undefined;
      }
      if (down !== probing) {
        probing = down;
        if (down) this.addObserver();
        else this.removeObserver();
      }
    };
    const watching = this.subject.pipe(distinctUntilChanged()).subscribe(follow);
    try {
      return await wait(signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal);
    } finally {
      watching.unsubscribe();
      // As for a final state: the timer is cleared and this wait's probe observer removed.
      follow('closed');
    }
  };

  /** Ends the state stream with `closed` and stops probing. */
  close(): void {
    if (this.subject.value === 'closed') return;
    this.stopProbe();
    this.next('closed');
    this.subject.complete();
  }

  /** The one place the state changes: `state$` and a `connection.state` event. */
  private next(state: ConnectionState): void {
    this.subject.next(state);
    if (this.events.observed) this.events.emit({ type: 'connection.state', state });
  }

  private addObserver(): void {
    this.observers++;
    if (this.observers === 1) this.probe();
  }

  private removeObserver(): void {
    if (this.observers === 0) return;
    this.observers--;
    if (this.observers === 0) this.stopProbe();
  }

  private stopProbe(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.observers = 0;
  }

  private probe(): void {
    if (this.probing || this.subject.value === 'closed') return;
    this.probing = true;
    const { probeIntervalMs } = this.settings;
    const deadline = Date.now() + Math.max(500, probeIntervalMs);
    this.etcd.maintenance
      .status({ deadline })
      .then(
        () => this.report(true),
        (err: unknown) => {
          this.log.debug('etcd probe failed', { error: errorText(err) });
          this.report(false, err);
        },
      )
      .finally(() => {
        this.probing = false;
        if (this.observers > 0 && this.subject.value !== 'closed') {
          this.timer = setTimeout(() => this.probe(), probeIntervalMs);
        }
      });
  }
}
