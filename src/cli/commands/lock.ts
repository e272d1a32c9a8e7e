import { performance } from 'node:perf_hooks';
import { errorText } from '../../core/error-text.js';
import type { LockHandle } from '../../lock/handle.js';
import type { CommandSpec, Parsed } from '../args.js';
import { CONNECTION_OPTIONS, settleWithin } from '../connect.js';
import { EXIT } from '../exit.js';
import { DEFAULT_GRACE_MS, HOLD_OPTIONS, RELEASE_WAIT_MS, runWhileHolding, withHold } from '../hold.js';
import { duration } from '../output.js';
import type { Interrupts, Reporter } from '../report.js';

export const spec: CommandSpec = {
  name: 'lock',
  usage: 'lock NAME [--ttl S] [--grace MS] -- CMD [ARGS...]',
  summary: 'run CMD holding the lock NAME (FIFO), release it when CMD exits',
  description: `Waits for the mutex NAME (first come, first served), runs CMD, releases the lock when
CMD exits and exits with CMD's exit code. The lock is the library's concord.mutex(NAME):
keys NAME/<lease hex>-<n>, queueing fairly with library mutexes, "etcdctl lock NAME" and
Go's concurrency.Mutex on the same name.

CMD's environment adds CONCORD_KEY (the lock's full etcd key, namespace included) and
CONCORD_FENCING_TOKEN (its create revision, greater for every later holder): a CMD that
writes to etcd can make each write conditional on create(CONCORD_KEY) ==
CONCORD_FENCING_TOKEN, so that a CMD which outlived its lock writes nothing.

Loss: when the lease's local deadline comes within --grace + 1 s (etcd unreachable,
keepalives unanswered) or the lock is lost (its key deleted or its lease revoked), CMD's
process group gets SIGTERM, then SIGKILL after --grace: before etcd can expire the lease and
hand the lock on. The tool then exits with 120. A lock taken away from outside (etcdctl
lease revoke, del) is free at once: CMD gets SIGTERM at that moment, so let it exit on it.
CMD runs in a process group of its own under a small guard process: signals reach
everything CMD started, and if concord-etcd itself is killed (even with SIGKILL) the guard
terminates CMD the same way before the lease can expire. (CMD is not the terminal's
foreground job: it should not read from the terminal.)

Signals: SIGINT, SIGTERM and SIGHUP are forwarded to CMD; the lock is released once CMD
has exited. While waiting for the lock, they cancel the wait (exit 130, 143, 129).

stderr: events as JSON lines with --json ({"type":"acquired","token":"42",...}), text when
stderr is a terminal, otherwise only errors. stdout is CMD's alone.`,
  options: { ...HOLD_OPTIONS, ...CONNECTION_OPTIONS },
  positionals: { min: 1, max: 1, names: 'NAME' },
  takesCommand: true,
  more: `Examples:
  concord-etcd lock nightly-report -- ./report.sh --full
  concord-etcd lock db-migrate --ttl 30 --grace ${DEFAULT_GRACE_MS} -- npm run migrate`,
};

export function run({ flags, positionals, command }: Parsed): Promise<number> {
  const name = positionals[0]!;
  return withHold(flags, async ({ concord, budget, report, interrupts, fullKey }) => {
    const mutex = concord.mutex(name, { ttl: budget.ttl });
    const handle = await acquire(name, report, interrupts, (signal) => mutex.lock({ signal }));
    if (!handle) return interrupts.exitCode;
    const holding = { key: fullKey(handle.key), token: handle.fencingToken, budget: handle };
    const outcome = await runWhileHolding(holding, command, budget, report, interrupts);
    if (outcome.lost) return EXIT.LOST; // etcd is likely away: closing the Concord tries the release once
    await release(handle, report);
    return outcome.end.status;
  });
}

/**
 * Waits for the lock; a signal cancels the wait (its key leaves the queue) and resolves to
 * undefined. A signal arriving just as the lock was granted releases it again: CMD never starts
 * after the user asked to stop.
 */
async function acquire(
  name: string,
  report: Reporter,
  interrupts: Interrupts,
  lock: (signal: AbortSignal) => Promise<LockHandle>,
): Promise<LockHandle | undefined> {
  const abort = new AbortController();
  interrupts.handler = (signal) => abort.abort(new Error(`interrupted by ${signal}`));
  report.event('waiting', { name }, `waiting for lock ${name}`);
  const since = performance.now();
  try {
    const handle = await lock(abort.signal);
    if (interrupts.received) {
      await release(handle, report);
      return undefined;
    }
    const waitedMs = Math.round(performance.now() - since);
    report.event(
      'acquired',
      { name, key: handle.key, token: handle.fencingToken, waitedMs },
      `acquired lock ${name} (fencing token ${handle.fencingToken}) after ${duration(waitedMs)}`,
    );
    return handle;
  } catch (err) {
    if (abort.signal.aborted) {
      report.event('cancelled', { signal: interrupts.received }, `${interrupts.received}: stopped waiting`);
      return undefined;
    }
    throw err;
  } finally {
    interrupts.handler = undefined;
  }
}

/** Releases the lock, waiting at most {@link RELEASE_WAIT_MS}: a silent etcd must not hold the tool. */
async function release(handle: LockHandle, report: Reporter): Promise<void> {
  if (!handle.isHeld) return;
  let failure: unknown;
  const done = await settleWithin(
    handle.release().catch((err: unknown) => {
      failure = err;
    }),
    RELEASE_WAIT_MS,
  );
  if (done && failure === undefined) report.event('released', { key: handle.key }, 'released the lock');
  else
    report.problem(
      `could not release the lock (${failure ? errorText(failure) : 'etcd did not answer'}); it goes when its lease expires`,
    );
}
