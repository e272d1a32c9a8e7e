import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

// Everything the harness spawned and has not yet seen exit, plus the scratch directories it
// created. A test that throws, a forgotten stop() or a Ctrl-C must not leave etcd members or
// workers running (they would hold ports and tmpfs memory across runs).
const children = new Set<ChildProcess>();
const dirs = new Set<string>();
let installed = false;

/**
 * Registers a child process so that it is SIGKILLed if this process exits before the child does
 * (normal exit, uncaught exception, SIGINT or SIGTERM). The child leaves the registry by itself
 * when it exits.
 */
export function trackChild(child: ChildProcess): void {
  install();
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/** Registers a directory to be removed (recursively) when this process exits, unless released first. */
export function trackDir(dir: string): void {
  install();
  dirs.add(dir);
}

/** Removes `dir` from the exit-cleanup list (call after removing it yourself). */
export function releaseDir(dir: string): void {
  dirs.delete(dir);
}

/** SIGKILLs every tracked child and removes every tracked directory, synchronously. Safe to call repeatedly. */
export function killAllNow(): void {
  for (const child of children) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // Already gone: nothing to clean.
      }
    }
  }
  children.clear();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  // 'exit' handlers may only do synchronous work, which is why killing uses process.kill.
  process.on('exit', killAllNow);
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => {
      killAllNow();
      process.exit(code);
    });
  }
}
