import { spawn } from 'node:child_process';
import { constants } from 'node:os';

/** The hidden first argument that makes the bin run as a guard. */
export const GUARD_COMMAND = '__guard';

/** What a guard tells the tool. */
export type FromGuard =
  | { type: 'started'; pid: number }
  | { type: 'exit'; code: number | null; signal: NodeJS.Signals | null }
  | { type: 'failed'; errno: string; message: string };

/**
 * The guard: a small process between the tool and CMD (`concord-etcd __guard GRACE_MS -- CMD
 * ARGS...`, spawned with an IPC channel). It starts CMD in a process group of its own (which the
 * tool signals, so every signal reaches CMD and whatever CMD started) and reports CMD's start
 * and exit. Its reason to exist: when the tool itself dies without a word (SIGKILL, the
 * OOM killer), its channel closes, and the guard terminates CMD (SIGTERM, SIGKILL after GRACE_MS)
 * while the tool's lease still runs, so CMD never outlives the lock or leadership it ran under.
 * It ignores the terminal's signals: the tool forwards what CMD should get.
 */
export function runGuard(argv: readonly string[]): Promise<number> {
  const graceMs = Number(argv[0]);
  const command = argv.slice(2);
  // Disconnecting only once the message is written, so the tool gets it.
  const sendLast = (message: FromGuard): void => {
    if (!process.connected) return;
    process.send?.(message, undefined, {}, () => process.disconnect?.());
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) process.on(signal, () => {});
  const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', detached: true });
  return new Promise((resolve) => {
    child.once('spawn', () => process.send?.({ type: 'started', pid: child.pid! } satisfies FromGuard));
    child.once('error', (err: NodeJS.ErrnoException) => {
      sendLast({ type: 'failed', errno: err.code ?? 'UNKNOWN', message: err.message });
      resolve(1);
    });
    child.once('exit', (code, signal) => {
      sendLast({ type: 'exit', code, signal });
      resolve(0);
    });
    process.once('disconnect', () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      signalGroup(child.pid, 'SIGTERM');
      setTimeout(() => signalGroup(child.pid, 'SIGKILL'), graceMs).unref();
    });
  });
}

/** Sends `signal` to CMD's process group (CMD and everything it started); a group already gone is fine. */
export function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group has no process left.
  }
}

/** The exit status a shell would report: the code, or 128 + the number of the signal that ended CMD. */
export function shellStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}
