import type { Etcd3 } from 'etcd3';
import { BehaviorSubject, distinctUntilChanged, Observable } from 'rxjs';
import { errorText } from './error-text.js';
import type { Log } from './log.js';

/** Where the client stands with etcd. `closed` is final. */
export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'closed';

/**
 * Follows whether etcd answers. Concord's own streams report what they see (a watch or
 * keepalive response means connected, a broken stream means disconnected); while anyone
 * observes `state$`, a cheap probe also runs every `probeIntervalMs` so the state follows the
 * server even when nothing else is talking to it.
 */
export class ConnectionMonitor {
  private readonly subject = new BehaviorSubject<ConnectionState>('connecting');
  private observers = 0;
  private timer: NodeJS.Timeout | undefined;
  private probing = false;

  /** Distinct connection states, current one first; completes after `closed`. */
  readonly state$: Observable<ConnectionState>;

  constructor(
    private readonly etcd: Etcd3,
    private readonly probeIntervalMs: number,
    private readonly log: Log,
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

  /** Records evidence from a stream or call: `true` when etcd answered, `false` when it could not be reached. */
  report(reachable: boolean): void {
    const state = this.subject.value;
    if (state === 'closed') return;
    const next: ConnectionState = reachable
      ? 'connected'
      : state === 'connecting'
        ? 'connecting'
        : 'disconnected';
    if (next !== state) {
      this.log.info(`etcd connection ${next}`);
      this.subject.next(next);
    }
  }

  /** Ends the state stream with `closed` and stops probing. */
  close(): void {
    if (this.subject.value === 'closed') return;
    this.stopProbe();
    this.subject.next('closed');
    this.subject.complete();
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
    const deadline = Date.now() + Math.max(500, this.probeIntervalMs);
    this.etcd.maintenance
      .status({ deadline })
      .then(
        () => this.report(true),
        (err: unknown) => {
          this.log.debug('etcd probe failed', { error: errorText(err) });
          this.report(false);
        },
      )
      .finally(() => {
        this.probing = false;
        if (this.observers > 0 && this.subject.value !== 'closed') {
          this.timer = setTimeout(() => this.probe(), this.probeIntervalMs);
        }
      });
  }
}
