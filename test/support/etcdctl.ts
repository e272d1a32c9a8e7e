import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { resolveEtcdctlBinary } from './etcd-binary.js';
import { trackChild } from './processes.js';
import { waitUntil } from './wait.js';

/**
 * One long-running etcdctl command (`lock NAME`, `elect NAME VALUE`, `elect -l NAME`): etcd's Go
 * client and its `concurrency` recipes, driven from a test. The process is this harness's own
 * (tracked, so it is SIGKILLed if the test process exits first); `stop()` signals only it.
 */
export class Etcdctl {
  /** Every line the command printed on stdout, in order. */
  readonly lines: string[] = [];
  /** Resolves with the exit code (null when a signal ended it) once the process has exited. */
  readonly exited: Promise<number | null>;
  readonly #child: ChildProcess;
  readonly #what: string;
  #stderr = '';

  /** Runs `etcdctl --endpoints=<endpoints> ...args` with the etcdctl of `resolveEtcdctlBinary()`. */
  constructor(endpoints: readonly string[], args: readonly string[]) {
    const binary = resolveEtcdctlBinary();
    this.#what = `etcdctl ${args.join(' ')}`;
    this.#child = spawn(binary, [`--endpoints=${endpoints.join(',')}`, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    const child = this.#child;
    if (child.pid === undefined) {
      child.on('error', () => undefined); // reported by the throw
      throw new Error(`could not spawn ${binary}`);
    }
    trackChild(child);
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      this.#stderr += text;
    });
    createInterface({ input: child.stdout! }).on('line', (line) => this.lines.push(line));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** Waits until the command has printed at least `count` lines; names the command and its stderr on timeout. */
  async printed(count: number, timeoutMs = 10_000): Promise<string[]> {
    await waitUntil(() => this.lines.length >= count, {
      timeoutMs,
      message: `${this.#what} to print ${count} line(s) (printed: ${JSON.stringify(this.lines)}; stderr: ${this.#stderr.trim()})`,
    });
    return this.lines.slice(0, count);
  }

  /**
   * Sends `signal` (etcdctl lock and elect release their lock / resign on SIGINT and SIGTERM)
   * and resolves with the exit code once the process has exited.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill(signal);
    return this.exited;
  }
}
