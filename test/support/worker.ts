import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { trackChild } from './processes.js';

/** How to run a worker script. */
export interface WorkerOptions {
  /** Added to (overriding) this process's environment. */
  env?: Record<string, string>;
  /** Command-line arguments after the script path (`process.argv.slice(2)` in the child). */
  args?: string[];
}

/** A message from a worker: one JSON object line the child wrote with worker-child's send(). */
export type WorkerMessage = Record<string, unknown>;

// The repository root: where `tsx` resolves from, whatever the test runner's cwd.
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STDERR_LIMIT = 64 * 1024;

/**
 * Runs `script` (a .ts file; relative paths resolve against the cwd) in its own Node.js process
 * through tsx, so a test can SIGSTOP or SIGKILL a real client. The child is killed when this
 * process exits. Talk to it with Worker.send / waitFor and worker-child's send / onMessage.
 */
export function spawnWorker(script: string, opts: WorkerOptions = {}): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(script), ...(opts.args ?? [])], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) {
    child.on('error', () => {}); // reported by the throw below; unhandled it would crash the process
    throw new Error(`could not spawn worker ${script} with ${process.execPath}`);
  }
  trackChild(child);
  return new Worker(child, script);
}

interface Waiter {
  pred: (m: WorkerMessage) => boolean;
  since: number;
  resolve: (m: WorkerMessage) => void;
  reject: (err: Error) => void;
}

/**
 * A running worker process. Every JSON object line the child prints is kept in order (all());
 * other stdout lines and all of stderr are kept for diagnostics and shown when a wait fails.
 */
export class Worker {
  /** The child's OS process id. */
  readonly pid: number;
  /** Resolves with the exit code once the process has exited, or null when a signal ended it. */
  readonly exited: Promise<number | null>;

  readonly #child: ChildProcess;
  readonly #script: string;
  readonly #messages: WorkerMessage[] = [];
  readonly #waiters = new Set<Waiter>();
  #stderr = '';
  #noise: string[] = [];
  #exit: string | undefined;
  #paused = false;

  constructor(child: ChildProcess, script: string) {
    if (child.pid === undefined) throw new Error(`could not spawn worker ${script}`);
    this.pid = child.pid;
    this.#child = child;
    this.#script = script;
    child.stdin?.on('error', () => {}); // writes after the child died: nothing to deliver
    child.on('error', (err) => {
      this.#stderr += `\n[spawn error] ${err.message}`;
    });
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      this.#stderr = (this.#stderr + text).slice(-STDERR_LIMIT);
    });
    createInterface({ input: child.stdout! }).on('line', (line) => this.#onLine(line));
    this.exited = new Promise((resolveExit) => {
      child.once('close', (code, signal) => {
        this.#exit = signal === null ? `exit code ${code}` : `signal ${signal}`;
        for (const waiter of this.#waiters) waiter.reject(this.#failure(`worker exited (${this.#exit})`));
        this.#waiters.clear();
        resolveExit(code);
      });
    });
  }

  /** A copy of every message received so far, in arrival order. */
  all(): WorkerMessage[] {
    return [...this.#messages];
  }

  /** Everything the child wrote to stderr so far (the last 64 KiB). */
  stderr(): string {
    return this.#stderr;
  }

  /**
   * Resolves with the first message, among those received from index `since` on (default 0, i.e.
   * including messages that already arrived), for which `pred` is true. Rejects after `timeoutMs`
   * or when the worker exits first; the error shows the messages so far and the child's stderr.
   */
  waitFor(
    pred: (m: WorkerMessage) => boolean,
    timeoutMs = 5000,
    { since = 0 }: { since?: number } = {},
  ): Promise<WorkerMessage> {
    const found = this.#messages.slice(since).find(pred);
    if (found !== undefined) return Promise.resolve(found);
    if (this.#exit !== undefined)
      return Promise.reject(this.#failure(`worker already exited (${this.#exit})`));
    return new Promise((resolveWait, rejectWait) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        rejectWait(this.#failure(`no matching worker message within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: Waiter = {
        pred,
        since,
        resolve: (m) => {
          clearTimeout(timer);
          resolveWait(m);
        },
        reject: (err) => {
          clearTimeout(timer);
          rejectWait(err);
        },
      };
      this.#waiters.add(waiter);
    });
  }

  /** Writes `msg` as one JSON line to the child's stdin (worker-child's onMessage receives it). */
  send(msg: unknown): void {
    this.#child.stdin?.write(`${JSON.stringify(msg)}\n`);
  }

  /** SIGSTOP: the child freezes mid-flight (its sockets stay open, its timers stop). */
  pause(): void {
    this.#child.kill('SIGSTOP');
    this.#paused = true;
  }

  /** SIGCONT: a paused child continues. */
  resume(): void {
    this.#child.kill('SIGCONT');
    this.#paused = false;
  }

  /**
   * Sends `signal` (default SIGKILL) and resolves with the exit code (null when the signal ended
   * it), like `exited`. A paused child also gets SIGCONT so it can act on a catchable signal.
   */
  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    if (this.#exit === undefined) {
      this.#child.kill(signal);
      if (this.#paused && signal !== 'SIGKILL') this.#child.kill('SIGCONT');
    }
    return this.exited;
  }

  #onLine(line: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      this.#noise = [...this.#noise, line].slice(-20);
      return;
    }
    const msg = parsed as WorkerMessage;
    const index = this.#messages.push(msg) - 1;
    for (const waiter of this.#waiters) {
      if (index >= waiter.since && waiter.pred(msg)) {
        this.#waiters.delete(waiter);
        waiter.resolve(msg);
      }
    }
  }

  #failure(what: string): Error {
    const recent = this.#messages.slice(-10).map((m) => JSON.stringify(m));
    return new Error(
      `${what} (worker ${this.#script}, pid ${this.pid}).\n` +
        `last messages:\n${recent.join('\n') || '(none)'}\n` +
        `other stdout:\n${this.#noise.join('\n') || '(none)'}\n` +
        `stderr:\n${this.#stderr.slice(-4000) || '(empty)'}`,
    );
  }
}
