import { isTransient } from './etcd-errors.js';
import type { Runtime } from './runtime.js';

/**
 * Runs `call`, retrying with the Concord's reconnect backoff for as long as it fails only
 * because etcd is unreachable and `signal` has not aborted. Rejects with the signal's reason
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
  let backoff = runtime.reconnectBackoff.next(undefined);
  for (;;) {
    signal.throwIfAborted();
    try {
      return await call();
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (!isTransient(err)) throw err;
      runtime.log.warn(`${what}: etcd unreachable; retrying`, {
        error: err instanceof Error ? err.message : String(err),
        retryInMs: backoff.duration,
      });
      await sleep(backoff.duration, signal);
      backoff = backoff.next(undefined);
    }
  }
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
