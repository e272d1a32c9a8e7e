import { Observable, type Subscription } from 'rxjs';
import { InvalidArgumentError } from '../errors.js';
import type { Session } from '../session/session.js';

/** The entry of one session under one key: whether its subscription is open, and when it has settled. */
interface Slot {
  active: boolean;
  readonly settled: Promise<void>;
}

const slots = new WeakMap<Session, Map<string, Slot>>();

/**
 * Runs the entry `entry()` makes (a campaign) as the only one of `session` under `key`, for
 * namings with one key per lease (Go's layout): two entries of one session at once would share
 * that key, each adopting the other's, and both would believe they lead. So a subscription while
 * another one of the same session and key is open errors at once with
 * {@link InvalidArgumentError} on `options.session`, before anything is written. A subscription
 * that follows one that just ended waits until that one has settled (its key withdrawn or
 * resigned), so it never adopts a key that is about to be deleted. `entry` reports through
 * `finished` when what it started has settled (see `holdWhile`'s `finished`).
 */
export function onePerLease<T>(
  session: Session,
  key: string,
  what: string,
  entry: (finished: (settled: Promise<void>) => void) => Observable<T>,
): Observable<T> {
  return new Observable<T>((subscriber) => {
    let bySession = slots.get(session);
    if (!bySession) {
      bySession = new Map();
      slots.set(session, bySession);
    }
    const previous = bySession.get(key);
    if (previous?.active) {
      subscriber.error(
        new InvalidArgumentError(
          'options.session',
          `already has a campaign in ${what}: Go's key layout has one key per lease, so one session ` +
            'campaigns once at a time (use a session per campaign)',
        ),
      );
      return;
    }
    let settle!: (settled: Promise<void>) => void;
    const slot: Slot = { active: true, settled: new Promise<void>((resolve) => (settle = resolve)) };
    const slotsOfSession = bySession;
    slotsOfSession.set(key, slot);
    void slot.settled.then(() => {
      if (slotsOfSession.get(key) === slot) slotsOfSession.delete(key);
    });
    let inner: Subscription | undefined;
    let ended = false;
    void (previous?.settled ?? Promise.resolve()).then(() => {
      if (!ended) inner = entry(settle).subscribe(subscriber);
    });
    return () => {
      ended = true;
      slot.active = false;
      if (inner === undefined) settle(Promise.resolve());
      else inner.unsubscribe();
    };
  });
}
