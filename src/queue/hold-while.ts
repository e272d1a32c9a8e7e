import { Observable } from 'rxjs';
import { errorText } from '../core/error-text.js';
import type { Runtime } from '../core/runtime.js';
import { ClosedError } from '../errors.js';

/** What {@link holdWhile} needs of a held thing (a lock handle, a leadership). */
export interface Held {
  readonly key: string;
  /** Emits the loss error once; completes once the hold has ended. */
  readonly lost$: Observable<unknown>;
}

/** How the Observable form of one primitive ends. */
export interface HoldWhileOptions<H extends Held> {
  /** Gives the hold up: `release()`, `resign()`. */
  end(held: H): Promise<void>;
  /**
   * Whether a hold that ends without a loss (given up, or the Concord closing, while waiting or
   * holding) completes the Observable; otherwise only unsubscribing ends it.
   */
  completeOnEnd: boolean;
  /**
   * Told, once per subscription when it ends, of a promise that resolves when everything the
   * subscription started has settled: the acquisition given up (its key out of the queue) or the
   * hold ended by `end`. Never rejects.
   */
  finished?(settled: Promise<void>): void;
}

/**
 * The Observable form of holding: acquires on subscribe, emits the held thing once it holds,
 * errors with its loss error if it is lost, and on unsubscribe cancels the wait or gives the hold
 * up. Each subscription is its own acquisition.
 */
export function holdWhile<H extends Held>(
  runtime: Runtime,
  acquire: (signal: AbortSignal) => Promise<H>,
  options: HoldWhileOptions<H>,
): Observable<H> {
  const end = (held: H): Promise<void> =>
    options.end(held).catch((err: unknown) => {
      runtime.log.warn('giving up a hold after unsubscribe failed; it goes with its session', {
        key: held.key,
        error: errorText(err),
      });
    });
  return new Observable<H>((subscriber) => {
    const abort = new AbortController();
    let held: H | undefined;
    // Resolves to what was acquired only when it arrived after the subscription ended (nobody
    // took it over, so the teardown must end it).
    const unclaimed = acquire(abort.signal).then(
      (got) => {
        if (subscriber.closed) return got;
        held = got;
        got.lost$.subscribe({
          next: (error) => subscriber.error(error),
          complete: () => {
            if (options.completeOnEnd) subscriber.complete();
          },
        });
        if (!subscriber.closed) subscriber.next(got);
        return undefined;
      },
      (err: unknown) => {
        if (subscriber.closed) return undefined;
        if (options.completeOnEnd && err instanceof ClosedError) subscriber.complete();
        else subscriber.error(err);
        return undefined;
      },
    );
    return () => {
      abort.abort(new ClosedError('the subscription ended'));
      const settled =
        held === undefined
          ? unclaimed.then((late) => (late === undefined ? undefined : end(late)))
          : end(held);
      options.finished?.(settled);
    };
  });
}
