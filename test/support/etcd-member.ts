import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { noop } from 'cockatiel';
import type { Etcd3 } from 'etcd3';
import { type ClientOptions, createTestClient } from './client.js';
import { trackChild } from './processes.js';
import { parsePrometheusText, sumMetric } from './prometheus.js';
import { sleep } from './wait.js';

/** Everything needed to (re)start one member; fixed for the member's lifetime. */
export interface MemberConfig {
  binary: string;
  name: string;
  /** The member's own folder: etcd's data dir and the log file live in it. */
  dir: string;
  clientPort: number;
  peerPort: number;
  clientScheme: 'http' | 'https';
  /** `name=peerUrl,...` for every member of the cluster. */
  initialCluster: string;
  clusterToken: string;
  progressNotifyInterval?: string;
  extraArgs: readonly string[];
  clientOptions: ClientOptions;
  /** Joins a running cluster (`--initial-cluster-state existing` from the first start): a member added with `member add`. */
  join?: boolean;
}

/**
 * Thrown when a member does not come up. `addressInUse` tells the cluster that a port picked as
 * free was taken in the meantime, so starting again on other ports is worth it.
 */
export class EtcdStartError extends Error {
  constructor(
    message: string,
    readonly addressInUse: boolean,
  ) {
    super(message);
    this.name = 'EtcdStartError';
  }
}

// Raft timings for tests: a leader is detected as gone within half a second instead of a second
// (etcd's defaults are 100 ms heartbeats and a 1000 ms election timeout).
const FAST_RAFT = ['--heartbeat-interval=50', '--election-timeout=500'];
const START_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 10_000;

/**
 * One etcd process on loopback. Its ports, data dir and cluster membership are fixed at
 * construction, so it can be killed, stopped, paused and started again as the same member.
 */
export class EtcdMember {
  /** The member name given to etcd (`--name`). */
  readonly name: string;
  /** `http://127.0.0.1:<port>` (or https), the client URL etcd listens on and advertises. */
  readonly clientUrl: string;
  /** `127.0.0.1:<port>`: the client address without scheme, as etcd3 and concord take it. */
  readonly endpoint: string;
  /** `http://127.0.0.1:<port>`: the raft peer URL. */
  readonly peerUrl: string;
  /** etcd's `--data-dir`; kept across kill/stop/start, removed by the cluster's stop(). */
  readonly dataDir: string;
  /** Where etcd writes its log (stdout and stderr, zap format). */
  readonly logFile: string;

  readonly #config: MemberConfig;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #paused = false;
  #bootstrapped = false;
  #client: Etcd3 | undefined;

  constructor(config: MemberConfig) {
    this.#config = config;
    this.name = config.name;
    this.endpoint = `127.0.0.1:${config.clientPort}`;
    this.clientUrl = `${config.clientScheme}://${this.endpoint}`;
    this.peerUrl = `http://127.0.0.1:${config.peerPort}`;
    this.dataDir = join(config.dir, 'data');
    this.logFile = join(config.dir, 'etcd.log');
  }

  /** The OS process id while the process is alive (also while paused), else undefined. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** True from start() until the process has exited (a paused member is still running). */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** True between pause() and resume() (or the process's exit). */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * A client connected to this member only (same test-friendly policies as the cluster's client),
   * created on first use and closed by the cluster's stop(). It reconnects by itself after restarts.
   */
  client(): Etcd3 {
    this.#client ??= createTestClient(this.clientUrl, this.#config.clientOptions);
    return this.#client;
  }

  /**
   * Starts the process (again) with the same data dir, ports and cluster configuration; a restart
   * uses `--initial-cluster-state existing`. Resolves once the member answers a request on its
   * client port. In etcd 3.4 a member serves nothing until it has published itself through raft,
   * so this needs a quorum of the cluster to be up (start members of a fresh cluster together).
   * On failure the process is killed and the error carries the tail of its log.
   */
  async start(): Promise<void> {
    if (this.#child !== undefined) throw new Error(`etcd member ${this.name} is already running`);
    const child = this.#spawn();
    const exited = new Promise<void>((resolve) => {
      const gone = () => {
        if (this.#child === child) {
          this.#child = undefined;
          this.#paused = false;
        }
        resolve();
      };
      child.once('exit', gone);
      // A failed spawn emits 'error' and maybe no 'exit'; unhandled, it would crash the test process.
      child.once('error', gone);
    });
    this.#child = child;
    this.#exited = exited;
    this.#bootstrapped = true;

    let exitedEarly = false;
    void exited.then(() => {
      exitedEarly = true;
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!exitedEarly && Date.now() < deadline) {
      if (await this.#answers(Math.min(2000, deadline - Date.now()))) return;
      if (!exitedEarly) await sleep(100);
    }
    const timedOut = !exitedEarly;
    if (timedOut) await this.kill();
    const why = !timedOut
      ? `exited during start (code ${child.exitCode}, signal ${child.signalCode})`
      : `did not answer within ${START_TIMEOUT_MS} ms`;
    throw new EtcdStartError(
      `etcd member ${this.name} (${this.clientUrl}) ${why}. Log ${this.logFile}, excerpt:\n${this.logTail()}`,
      this.#readLog().includes('address already in use'),
    );
  }

  /** Sends SIGKILL (a crash: no leadership transfer, no flush) and resolves after the exit. No-op when not running. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    child.kill('SIGKILL');
    await this.#exited;
  }

  /**
   * Sends SIGTERM (graceful: a leader hands over leadership) and resolves after the exit; falls
   * back to SIGKILL after 10 s. A paused member is resumed so it can act on the signal.
   */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    child.kill('SIGTERM');
    if (this.#paused) child.kill('SIGCONT');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await this.#exited;
    clearTimeout(timer);
  }

  /** Freezes the process with SIGSTOP: its sockets stay open but it answers nothing (a hung member). */
  pause(): void {
    const child = this.#requireRunning('pause');
    child.kill('SIGSTOP');
    this.#paused = true;
  }

  /** Lets a paused process continue with SIGCONT. */
  resume(): void {
    const child = this.#requireRunning('resume');
    child.kill('SIGCONT');
    this.#paused = false;
  }

  /**
   * Fetches `<clientUrl>/metrics` and parses it: one entry per series, keyed by the metric name
   * plus its labels exactly as etcd prints them. Rejects after 5 s (e.g. when paused).
   */
  async metrics(): Promise<Map<string, number>> {
    return parsePrometheusText(await this.#fetchText('/metrics', 5000));
  }

  /** The sum of every series of metric `name` (0 when etcd exports none). */
  async metric(name: string): Promise<number> {
    return sumMetric(await this.metrics(), name);
  }

  /**
   * What to show when the member failed: its last warning/error lines (a flag error or a fatal
   * is often far from the end) followed by the last `lines` lines of its log.
   */
  logTail(lines = 20): string {
    const all = this.#readLog().trimEnd().split('\n');
    const tail = all.slice(-lines);
    const notable = all
      .slice(0, -lines)
      .filter((l) => /"level":"(warn|error|fatal|panic)"|^flag provided|^error/i.test(l))
      .slice(-10);
    return notable.length === 0 ? tail.join('\n') : [...notable, '...', ...tail].join('\n');
  }

  /** Closes the member's client; used by the cluster on stop(). */
  closeClient(): void {
    this.#client?.close();
    this.#client = undefined;
  }

  #spawn(): ChildProcess {
    const c = this.#config;
    const args = [
      `--name=${c.name}`,
      `--data-dir=${this.dataDir}`,
      `--listen-client-urls=${this.clientUrl}`,
      `--advertise-client-urls=${this.clientUrl}`,
      `--listen-peer-urls=${this.peerUrl}`,
      `--initial-advertise-peer-urls=${this.peerUrl}`,
      `--initial-cluster=${c.initialCluster}`,
      `--initial-cluster-token=${c.clusterToken}`,
      `--initial-cluster-state=${this.#bootstrapped || c.join ? 'existing' : 'new'}`,
      ...FAST_RAFT,
      // zap logs to stderr by default; stderr goes to the log file (so do flag errors printed
      // before the logger exists, which --log-outputs would miss).
      '--logger=zap',
      ...(c.progressNotifyInterval === undefined
        ? []
        : [`--experimental-watch-progress-notify-interval=${c.progressNotifyInterval}`]),
      ...c.extraArgs,
    ];
    const log = openSync(this.logFile, 'a');
    try {
      // No pipes: the child writes its log straight to the file, so nothing in this process has
      // to keep reading it and a busy test cannot stall etcd on a full pipe.
      const child = spawn(c.binary, args, { stdio: ['ignore', log, log] });
      trackChild(child);
      return child;
    } finally {
      closeSync(log);
    }
  }

  // One readiness probe on a fresh client, so gRPC reconnect backoff from earlier attempts
  // cannot delay noticing that the member is up.
  async #answers(timeoutMs: number): Promise<boolean> {
    const probe = createTestClient(this.clientUrl, {
      ...this.#config.clientOptions,
      faultHandling: { global: noop },
    });
    try {
      await probe.maintenance.status({ deadline: Date.now() + timeoutMs });
      return true;
    } catch {
      return false;
    } finally {
      probe.close();
    }
  }

  #fetchText(path: string, timeoutMs: number): Promise<string> {
    const { credentials } = this.#config.clientOptions;
    const url = `${this.clientUrl}${path}`;
    return new Promise((resolve, reject) => {
      const onResponse = (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 200) resolve(body);
          else reject(new Error(`GET ${url}: HTTP ${res.statusCode}: ${body.slice(0, 200)}`));
        });
        res.on('error', reject);
      };
      const req =
        this.#config.clientScheme === 'https'
          ? httpsGet(
              url,
              {
                ca: credentials?.rootCertificate,
                cert: credentials?.certChain,
                key: credentials?.privateKey,
              },
              onResponse,
            )
          : httpGet(url, onResponse);
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
    });
  }

  #readLog(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '(no log)';
    }
  }

  #requireRunning(action: string): ChildProcess {
    if (this.#child === undefined) throw new Error(`cannot ${action} etcd member ${this.name}: not running`);
    return this.#child;
  }
}
