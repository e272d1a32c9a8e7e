// Records what a Concord reports on events$, for the tests of the event stream and its consumers.
import type { Concord, ConcordEvent, ConcordEventType, EventOf } from 'concord-etcd';
import type { Subscription } from 'rxjs';
import { waitUntil } from './wait.js';

/** Every event a Concord emitted since {@link recordEvents} subscribed. */
export interface EventLog {
  readonly events: ConcordEvent[];
  /** The events of one type, in order. */
  of<T extends ConcordEventType>(type: T): EventOf<T>[];
  /** Waits (up to `timeoutMs`, default 10 s) for an event of `type` that satisfies `pred`, and returns the first. */
  next<T extends ConcordEventType>(
    type: T,
    pred?: (event: EventOf<T>) => boolean,
    timeoutMs?: number,
  ): Promise<EventOf<T>>;
  /** The events as JSON (bigints as decimal strings), one per line: what a log shipper would see. */
  json(): string[];
  stop(): void;
}

/** Subscribes to `concord.events$` and keeps everything it emits. */
export function recordEvents(concord: Concord): EventLog {
  const events: ConcordEvent[] = [];
  const subscription: Subscription = concord.events$.subscribe((event) => events.push(event));
  const of = <T extends ConcordEventType>(type: T) =>
    events.filter((event): event is EventOf<T> => event.type === type);
  return {
    events,
    of,
    async next(type, pred = () => true, timeoutMs = 10_000) {
      let found: EventOf<typeof type> | undefined;
      await waitUntil(
        () => {
          found = of(type).find(pred);
          return found !== undefined;
        },
        { timeoutMs, intervalMs: 10, message: `a ${type} event` },
      );
      return found!;
    },
    json: () => events.map((event) => toJson(event)),
    stop: () => subscription.unsubscribe(),
  };
}

/** JSON.stringify with bigints as decimal strings. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}
