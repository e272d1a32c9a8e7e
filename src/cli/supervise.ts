import { spawn } from 'node:child_process';
import { EXIT } from './exit.js';
import { type FromGuard, GUARD_COMMAND, shellStatus, signalGroup } from './guard.js';

/** How CMD ended. */
export interface CommandEnd {
  /** As a shell reports it: the exit code, 128+N for signal N, 126/127 when it could not run. */
  status: number;
  /** What happened, for people: `exit code 3`, `signal SIGTERM`, `not found`. */
  how: string;
}

/** CMD running under a guard (see guard.ts). */
export interface CommandRun {
  /** Resolves with CMD's pid once it runs (never, if it could not start: see `ended`). */
  readonly started: Promise<number>;
  /** Resolves once CMD has ended (and was reaped). */
  readonly ended: Promise<CommandEnd>;
  /** Sends `signal` to CMD's process group (held until CMD runs, dropped once it ended). */
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM to CMD's group now, SIGKILL after `graceMs` unless it ended. Once is enough. */
  terminate(graceMs: number): void;
}

/**
 * Starts `command` with `env` through a guard process: the same bin run as `__guard`, which puts
 * CMD in its own process group and, should this process die without a word, terminates CMD
 * (SIGTERM, SIGKILL after `graceMs`) before the lease this process held can expire.
 */
export function startCommand(
  command: readonly string[],
  env: NodeJS.ProcessEnv,
  graceMs: number,
): CommandRun {
  const script = process.argv[1]!;
  const guard = spawn(
    process.execPath,
    [...process.execArgv, script, GUARD_COMMAND, String(graceMs), '--', ...command],
    { stdio: ['inherit', 'inherit', 'inherit', 'ipc'], env },
  );
  let pid: number | undefined;
  let done = false;
  const pending: NodeJS.Signals[] = [];
  let killTimer: NodeJS.Timeout | undefined;
  let resolveStarted: (pid: number) => void = () => {};
  const started = new Promise<number>((resolve) => {
    resolveStarted = resolve;
  });
  const ended = new Promise<CommandEnd>((resolve) => {
    const finish = (end: CommandEnd): void => {
      if (done) return;
      done = true;
      clearTimeout(killTimer);
      resolve(end);
    };
    guard.on('message', (message: FromGuard) => {
      if (message.type === 'started') {
        pid = message.pid;
        resolveStarted(pid);
        for (const signal of pending.splice(0)) signalGroup(pid, signal);
      } else if (message.type === 'exit') {
        finish({ status: shellStatus(message.code, message.signal), how: describeExit(message) });
      } else {
        const status = message.errno === 'ENOENT' ? EXIT.NOT_FOUND : EXIT.CANNOT_EXECUTE;
        finish({ status, how: `could not run ${command[0]}: ${message.message}` });
      }
    });
    guard.once('error', (err) =>
      finish({ status: EXIT.FAILURE, how: `could not start the guard: ${err.message}` }),
    );
    guard.once('exit', (code, signal) => {
      if (done) return;
      // The guard died before reporting: CMD's fate is unknown, so make sure it is gone.
      signalGroup(pid, 'SIGKILL');
      finish({ status: EXIT.FAILURE, how: `the guard process ended (${signal ?? `exit code ${code}`})` });
    });
  });
  const signal = (sig: NodeJS.Signals): void => {
    if (done) return;
    if (pid === undefined) pending.push(sig);
    else signalGroup(pid, sig);
  };
  return {
    started,
    ended,
    signal,
    terminate(graceMs) {
      if (killTimer !== undefined || done) return;
      signal('SIGTERM');
      killTimer = setTimeout(() => signal('SIGKILL'), graceMs);
    },
  };
}

function describeExit({ code, signal }: { code: number | null; signal: NodeJS.Signals | null }): string {
  return code !== null ? `exit code ${code}` : `signal ${signal}`;
}
