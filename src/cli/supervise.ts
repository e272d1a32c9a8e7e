import { type ChildProcess, spawn } from 'node:child_process';
import { EXIT } from './exit.js';
import { type FromGuard, GUARD_COMMAND, shellStatus, signalGroup } from './guard.js';

/** How CMD ended. */
export interface CommandEnd {
  /** As a shell reports it: the exit code, 128+N for signal N, 126/127 when it could not run. */
  status: number;
  /** What happened, for people: `exit code 3`, `signal SIGTERM`, `could not run ...`. */
  how: string;
}

/**
 * CMD running under a guard process: the same bin run as `__guard` (see guard.ts), which puts
 * CMD in its own process group and, should this process die without a word, terminates CMD
 * (SIGTERM, SIGKILL after the grace) before the lease this process held can expire.
 */
export class CommandRun {
  /** Resolves with CMD's pid once it runs (never, if it could not start: see `ended`). */
  readonly started: Promise<number>;
  /** Resolves once CMD has ended (and was reaped). */
  readonly ended: Promise<CommandEnd>;

  #pid: number | undefined;
  #done = false;
  readonly #pending: NodeJS.Signals[] = [];
  #killTimer: NodeJS.Timeout | undefined;
  #resolveStarted: (pid: number) => void = () => {};
  #resolveEnded: (end: CommandEnd) => void = () => {};

  /** Starts `command` with `env`; `graceMs` is what the guard gives CMD between SIGTERM and SIGKILL. */
  constructor(
    private readonly command: readonly string[],
    env: NodeJS.ProcessEnv,
    graceMs: number,
  ) {
    this.started = new Promise((resolve) => {
      this.#resolveStarted = resolve;
    });
    this.ended = new Promise((resolve) => {
      this.#resolveEnded = resolve;
    });
    const guard = spawn(
      process.execPath,
      [...process.execArgv, process.argv[1]!, GUARD_COMMAND, String(graceMs), '--', ...command],
      { stdio: ['inherit', 'inherit', 'inherit', 'ipc'], env },
    );
    this.#watch(guard);
  }

  /** Sends `signal` to CMD's process group (held until CMD runs, dropped once it ended). */
  signal(signal: NodeJS.Signals): void {
    if (this.#done) return;
    if (this.#pid === undefined) this.#pending.push(signal);
    else signalGroup(this.#pid, signal);
  }

  /** SIGTERM to CMD's group now, SIGKILL after `graceMs` unless it ended. Once is enough. */
  terminate(graceMs: number): void {
    if (this.#killTimer !== undefined || this.#done) return;
    this.signal('SIGTERM');
    this.#killTimer = setTimeout(() => this.signal('SIGKILL'), graceMs);
  }

  #watch(guard: ChildProcess): void {
    guard.on('message', (message: FromGuard) => {
      if (message.type === 'started') {
        this.#pid = message.pid;
        this.#resolveStarted(message.pid);
        for (const signal of this.#pending.splice(0)) signalGroup(message.pid, signal);
      } else if (message.type === 'exit') {
        const how = message.code !== null ? `exit code ${message.code}` : `signal ${message.signal}`;
        this.#finish({ status: shellStatus(message.code, message.signal), how });
      } else {
        const status = message.errno === 'ENOENT' ? EXIT.NOT_FOUND : EXIT.CANNOT_EXECUTE;
        this.#finish({ status, how: `could not run ${this.command[0]}: ${message.message}` });
      }
    });
    guard.once('error', (err) =>
      this.#finish({ status: EXIT.FAILURE, how: `could not start the guard: ${err.message}` }),
    );
    guard.once('exit', (code, signal) => {
      if (this.#done) return;
      // The guard died before reporting: CMD's fate is unknown, so make sure it is gone.
      signalGroup(this.#pid, 'SIGKILL');
      this.#finish({
        status: EXIT.FAILURE,
        how: `the guard process ended (${signal ?? `exit code ${code}`})`,
      });
    });
  }

  #finish(end: CommandEnd): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#killTimer);
    this.#resolveEnded(end);
  }
}
