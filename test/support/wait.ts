import { createServer } from 'node:net';

/** Resolves after `ms` milliseconds; never rejects. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether `promise` has settled (either way) by the next macrotask; never rejects. */
export function settled(promise: Promise<unknown>): Promise<boolean> {
  return Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    sleep(0).then(() => false),
  ]);
}

/**
 * `promise`, or a rejection naming `what` once `ms` have passed: a wait that hangs fails its test
 * instead of stalling the run.
 */
export function within<T>(promise: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/** Options for {@link waitUntil}. */
export interface WaitUntilOptions {
  /** Give up after this long (default 5000 ms). */
  timeoutMs?: number;
  /** Pause between two evaluations of the predicate (default 50 ms). */
  intervalMs?: number;
  /** Included in the timeout error, to say what was being waited for. */
  message?: string;
}

/**
 * Evaluates `pred` until it returns true, then resolves. Rejects once `timeoutMs` has passed
 * without success; the error names `message` and the last error `pred` threw, if any (a throwing
 * predicate counts as "not yet", so callers can poll operations that fail while a cluster heals).
 */
export async function waitUntil(
  pred: () => boolean | Promise<boolean>,
  { timeoutMs = 5000, intervalMs = 50, message = 'condition' }: WaitUntilOptions = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await pred()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const cause = lastError === undefined ? '' : ` (last error: ${describe(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}${cause}`, { cause: lastError });
    }
    await sleep(intervalMs);
  }
}

/**
 * Returns a TCP port on 127.0.0.1 that was free a moment ago (bound with port 0, then released).
 * Another process may take it before the caller binds it, so callers must be ready to retry.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('listen(0) gave no port'))));
    });
  });
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Resolves with Date.now() once no process has `pid` any more (polled every 10 ms), for a test
 * that times the end of a process it did not start itself (a grandchild, a CMD under a guard).
 */
export async function processGone(pid: number, timeoutMs = 15_000): Promise<number> {
  await waitUntil(
    () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    },
    { timeoutMs, intervalMs: 10, message: `process ${pid} to end` },
  );
  return Date.now();
}
