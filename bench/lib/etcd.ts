import type { EtcdCluster } from '../../test/support/etcd.js';

/** Server-side watchers (etcd_debugging_mvcc_watcher_total) on the bench member right now. */
export function serverWatchers(cluster: EtcdCluster): Promise<number> {
  return cluster.members[0]!.metric('etcd_debugging_mvcc_watcher_total');
}

/** Watch events etcd has sent to watchers so far (etcd_debugging_mvcc_events_total), a counter. */
export function serverEventsSent(cluster: EtcdCluster): Promise<number> {
  return cluster.members[0]!.metric('etcd_debugging_mvcc_events_total');
}

/**
 * Polls until `check()` holds, every `intervalMs`; rejects after `timeoutMs` or when `signal`
 * aborts, naming `what`. Used for conditions only visible from outside (server metrics).
 */
export async function pollUntil(
  what: string,
  check: () => boolean | Promise<boolean>,
  signal: AbortSignal,
  timeoutMs = 30_000,
  intervalMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal.throwIfAborted();
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Runs `count` tasks with at most `concurrency` in flight; stops starting new ones when `signal` aborts. */
export async function pool(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<unknown>,
  signal: AbortSignal,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      signal.throwIfAborted();
      await task(next++);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/** A promise with its resolve and reject, for "wait until the last delivery" conditions. */
export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
} {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Waits for `promise`, rejecting with a message naming `what` after `timeoutMs` or when `signal`
 * aborts, so no measurement can hang the run.
 */
export function within<T>(
  what: string,
  promise: Promise<T>,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const fail = (err: unknown) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      reject(err);
    };
    const onAbort = () => fail(signal.reason);
    const timer = setTimeout(
      () => fail(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then((v) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(v);
    }, fail);
  });
}
