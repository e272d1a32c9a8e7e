import { Observable, Subject } from 'rxjs';
import type { ConcordEvent } from '../events/types.js';

/** An event as an emission point builds it: the bus stamps `at`. */
export type EventInput = ConcordEvent extends infer E
  ? E extends ConcordEvent
    ? Omit<E, 'at'>
    : never
  : never;

/**
 * The Concord's one event stream (`concord.events$`). Cold and cheap: `observed` is a plain
 * field read, and emission points check it before they build an event, so with nobody
 * subscribed an emission point costs one branch. Delivery is synchronous; a subscriber that
 * throws is reported by RxJS (asynchronously) and never breaks the emission point.
 */
export class EventBus {
  readonly #subject = new Subject<ConcordEvent>();
  #observed = false;
  #completed = false;

  /** Every event from the moment of subscription; completes when the Concord has closed. */
  readonly events$: Observable<ConcordEvent>;

  constructor() {
    this.events$ = new Observable<ConcordEvent>((subscriber) => {
      if (this.#completed) {
        subscriber.complete();
        return undefined;
      }
      const subscription = this.#subject.subscribe(subscriber);
      this.#observed = true;
      return () => {
        subscription.unsubscribe();
        this.#observed = this.#subject.observed;
      };
    });
  }

  /** True while anyone subscribes to `events$`: emission points build an event only then. */
  get observed(): boolean {
    return this.#observed;
  }

  /** Stamps `at` and delivers `event` to every subscriber; a no-op while nobody subscribes. */
  emit(event: EventInput): void {
    if (!this.#observed) return;
    // `type` first, then `at`: the order a reader of logged events expects.
    this.#subject.next(Object.assign({ type: event.type, at: Date.now() }, event) as ConcordEvent);
  }

  /** Ends `events$` (the Concord has closed). */
  complete(): void {
    if (this.#completed) return;
    this.#completed = true;
    this.#observed = false;
    this.#subject.complete();
  }
}
