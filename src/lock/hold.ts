import { Observable } from 'rxjs';
import { errorText } from '../core/error-text.js';
import type { Runtime } from '../core/runtime.js';
import { ClosedError } from '../errors.js';
import type { LockHandle } from './handle.js';

/**
 * The Observable form of an acquisition: acquires on subscribe, emits the handle once it is
 * held, errors with the handle's {@link LockLostError} if the lock is lost, and on unsubscribe
 * cancels the wait or releases the lock. Each subscription is its own acquisition.
 */
export function holdWhile(
  runtime: Runtime,
  acquire: (signal: AbortSignal) => Promise<LockHandle>,
): Observable<LockHandle> {
  return new Observable<LockHandle>((subscriber) => {
    const abort = new AbortController();
    let handle: LockHandle | undefined;
    acquire(abort.signal).then(
      (held) => {
        if (subscriber.closed) {
          void held.release().catch(() => undefined);
          return;
        }
        handle = held;
        held.lost$.subscribe((error) => subscriber.error(error));
        if (!subscriber.closed) subscriber.next(held);
      },
      (err: unknown) => {
        if (!subscriber.closed) subscriber.error(err);
      },
    );
    return () => {
      abort.abort(new ClosedError('the hold$ subscription ended'));
      handle?.release().catch((err: unknown) => {
        runtime.log.warn('releasing a lock after unsubscribe failed; it goes with its session', {
          key: handle?.key,
          error: errorText(err),
        });
      });
    };
  });
}
