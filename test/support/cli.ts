// Runs the `concord-etcd` bin as a real child process. The bin is bundled from src/ (tsup, the
// same bundler as `npm run build`) into a cache folder inside the repository, named by a hash of
// the sources: every test file (and every run) with the same sources shares one bundle, which
// resolves etcd3 and rxjs from node_modules and starts in a plain `node` (a tenth of the time tsx
// takes). The packed bin is tested by test/package/package.test.ts.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { trackChild } from './processes.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CACHE = join(REPO_ROOT, 'node_modules', '.cache', 'concord-cli-test');
const TEXT_LIMIT = 64 * 1024;
/** Bundles of other sources older than this are removed when a new one is made. */
const STALE_MS = 60 * 60 * 1000;

let bundled: Promise<string> | undefined;

/** The path of the bin bundled from the current src/ (built once for all test files, then reused). */
export function cliBin(): Promise<string> {
  bundled ??= (async () => {
    const dir = join(CACHE, sourceHash());
    const bin = join(dir, 'concord-etcd.js');
    if (existsSync(bin)) return bin;
    // Built aside and renamed into place, so test files bundling at once never see half a bundle.
    const scratch = `${dir}.${process.pid}`;
    const { build } = await import('tsup');
    await build({
      entry: { 'concord-etcd': join(REPO_ROOT, 'src/cli/main.ts') },
      outDir: scratch,
      format: ['esm'],
      target: 'node20',
      config: false,
      silent: true,
      dts: false,
      sourcemap: false,
      tsconfig: join(REPO_ROOT, 'tsconfig.build.json'),
    });
    try {
      renameSync(scratch, dir);
    } catch {
      rmSync(scratch, { recursive: true, force: true }); // another test file was first
    }
    removeStale(dir);
    return bin;
  })();
  return bundled;
}

function sourceHash(): string {
  const hash = createHash('sha256');
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (!name.endsWith('.test.ts')) hash.update(path).update(readFileSync(path));
    }
  };
  walk(join(REPO_ROOT, 'src'));
  hash.update(readFileSync(join(REPO_ROOT, 'package.json')));
  return hash.digest('hex').slice(0, 16);
}

function removeStale(keep: string): void {
  for (const name of readdirSync(CACHE)) {
    const path = join(CACHE, name);
    if (path !== keep && Date.now() - statSync(path).mtimeMs > STALE_MS)
      rmSync(path, { recursive: true, force: true });
  }
}

const running = new Set<CliProcess>();

/**
 * SIGKILLs every bin still running (a test that failed before stopping its view); call it in
 * `after`. Without it a failed test would leave views running, and their pipes would keep the
 * test process alive.
 */
export async function cleanupCli(): Promise<void> {
  for (const cli of running) cli.kill('SIGKILL');
  await Promise.all([...running].map((cli) => cli.exited));
}

/** How to run the bin. */
export interface CliOptions {
  /** Added to (overriding) this process's environment; ETCD_ENDPOINTS and CONCORD_PASSWORD are removed first. */
  env?: Record<string, string>;
  /** Written to the bin's standard input, which is then closed (default: closed at once, empty). */
  stdin?: string;
}

/** One line the bin wrote: parsed when it is a JSON object, with when it arrived. */
export interface CliLine {
  stream: 'stdout' | 'stderr';
  text: string;
  json: Record<string, unknown> | undefined;
  /** Date.now() when the line arrived. */
  at: number;
}

/** Starts `concord-etcd ...args`. */
export async function startCli(args: readonly string[], options: CliOptions = {}): Promise<CliProcess> {
  const bin = await cliBin();
  const env = { ...process.env };
  delete env.ETCD_ENDPOINTS;
  delete env.CONCORD_PASSWORD;
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: REPO_ROOT,
    env: { ...env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  trackChild(child);
  child.stdin?.on('error', () => {});
  child.stdin?.end(options.stdin ?? '');
  const cli = new CliProcess(child, args);
  running.add(cli);
  void cli.exited.then(() => running.delete(cli));
  return cli;
}

/** Runs the bin to its end; resolves with its exit and every line it wrote. */
export async function runCli(
  args: readonly string[],
  options: CliOptions & { timeoutMs?: number } = {},
): Promise<{
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: CliLine[];
  stdout: string;
  stderr: string;
}> {
  const cli = await startCli(args, options);
  const exit = await cli.exit(options.timeoutMs ?? 20_000);
  return { ...exit, lines: cli.lines(), stdout: cli.text('stdout'), stderr: cli.text('stderr') };
}

interface Waiter {
  pred: (line: CliLine) => boolean;
  resolve: (line: CliLine) => void;
}

/** A running bin: every line it writes, waits on them, its exit, signals. */
export class CliProcess {
  readonly pid: number;
  readonly #child: ChildProcess;
  readonly #args: readonly string[];
  readonly #lines: CliLine[] = [];
  readonly #waiters = new Set<Waiter>();
  readonly #exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  #done = false;

  constructor(child: ChildProcess, args: readonly string[]) {
    this.#child = child;
    this.#args = args;
    this.pid = child.pid ?? -1;
    for (const stream of ['stdout', 'stderr'] as const) {
      createInterface({ input: child[stream]! }).on('line', (text) => this.#add(stream, text));
    }
    this.#exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.#done = true;
        resolve({ code, signal, at: Date.now() });
      });
    });
  }

  /** Settles once the bin has exited (and its pipes are drained). */
  get exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }> {
    return this.#exited;
  }

  /** Every line so far, in arrival order. */
  lines(): CliLine[] {
    return [...this.#lines];
  }

  /** The JSON objects written to `stream` so far. */
  json(stream: 'stdout' | 'stderr' = 'stdout'): Record<string, unknown>[] {
    return this.#lines.flatMap((l) => (l.stream === stream && l.json ? [l.json] : []));
  }

  /** Everything written to `stream` so far (the last 64 KiB). */
  text(stream: 'stdout' | 'stderr'): string {
    return this.#lines
      .filter((l) => l.stream === stream)
      .map((l) => l.text)
      .join('\n')
      .slice(-TEXT_LIMIT);
  }

  /**
   * Resolves with the first JSON object on `stream` (already written or to come) for which `pred`
   * holds. Rejects after `timeoutMs` or when the bin exits first, showing what it wrote.
   */
  async waitJson(
    pred: (json: Record<string, unknown>) => boolean,
    { stream = 'stdout', timeoutMs = 10_000 }: { stream?: 'stdout' | 'stderr'; timeoutMs?: number } = {},
  ): Promise<Record<string, unknown>> {
    const match = (line: CliLine) => line.stream === stream && line.json !== undefined && pred(line.json);
    return (await this.waitLine(match, timeoutMs)).json!;
  }

  /** Like {@link waitJson}, resolving with the whole line (its arrival time included). */
  waitLine(pred: (line: CliLine) => boolean, timeoutMs = 10_000): Promise<CliLine> {
    const found = this.#lines.find((line) => matches(pred, line));
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        this.#waiters.delete(waiter);
        reject(new Error(`${why} (concord-etcd ${this.#args.join(' ')})\n${this.#transcript()}`));
      };
      const timer = setTimeout(() => fail(`no matching line within ${timeoutMs} ms`), timeoutMs);
      const waiter: Waiter = {
        pred,
        resolve: (line) => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve(line);
        },
      };
      this.#waiters.add(waiter);
      void this.#exited.then(() => {
        // Lines still in the pipes arrive before 'close'; a waiter left now waits in vain.
        if (this.#waiters.has(waiter)) {
          clearTimeout(timer);
          fail('the bin exited first');
        }
      });
    });
  }

  /** Resolves once the bin has exited; rejects (after SIGKILLing it) when that takes over `timeoutMs`. */
  async exit(
    timeoutMs = 20_000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#child.kill('SIGKILL');
        reject(
          new Error(
            `concord-etcd ${this.#args.join(' ')} did not exit within ${timeoutMs} ms\n${this.#transcript()}`,
          ),
        );
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.#exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends `signal` to the bin (not to its CMD). */
  kill(signal: NodeJS.Signals): void {
    if (!this.#done) this.#child.kill(signal);
  }

  /** What the bin wrote, for failure messages. */
  #transcript(): string {
    const lines = this.#lines.slice(-40).map((l) => `[${l.stream}] ${l.text}`);
    return `output:\n${lines.join('\n') || '(none)'}`;
  }

  #add(stream: 'stdout' | 'stderr', text: string): void {
    let json: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
        json = parsed as Record<string, unknown>;
    } catch {
      json = undefined;
    }
    const line: CliLine = { stream, text, json, at: Date.now() };
    this.#lines.push(line);
    for (const waiter of [...this.#waiters]) if (matches(waiter.pred, line)) waiter.resolve(line);
  }
}

/** A predicate that throws (reading a field of a line of another shape) does not match. */
function matches(pred: (line: CliLine) => boolean, line: CliLine): boolean {
  try {
    return pred(line);
  } catch {
    return false;
  }
}
