import { sleep } from '../core/abort.js';
import { errorText } from '../core/error-text.js';
import type { Runtime } from '../core/runtime.js';
import { isTransient } from './translate.js';

/**
 * Runs `call`, retrying with the Concord's reconnect backoff for as long as it fails only
 * because etcd is unreachable (which it reports to the connection monitor) and `signal` has not
 * aborted. Rejects with the signal's reason
 * once it aborts, and with any other failure as it came (callers type it for their context).
 * An attempt already sent is never interrupted (its outcome decides what was written). `what`
 * names the work in the log.
 */
export async function retryTransient<T>(
  runtime: Runtime,
  what: string,
  signal: AbortSignal,
  call: () => Promise<T>,
): Promise<T> {
  // Made at the first failure only: most calls succeed at once, and this runs on a handoff's path.
  let backoff: ReturnType<typeof runtime.reconnectBackoff.next> | undefined;
  for (;;) {
    signal.throwIfAborted();
    try {
      return await call();
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (!isTransient(err)) throw err;
      backoff = backoff ? backoff.next(undefined) : runtime.reconnectBackoff.next(undefined);
      runtime.monitor.report(false, err);
      runtime.log.warn(`${what}: etcd unreachable; retrying`, {
        error: errorText(err),
        retryInMs: backoff.duration,
      });
      await sleep(backoff.duration, signal);
    }
  }
}
