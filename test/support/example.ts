// Runs an example the way a user would, for the tests that check the story it prints.
import { spawn } from 'node:child_process';

/** How an example ended: its exit code (null when a signal ended it) and everything it printed. */
export interface ExampleRun {
  code: number | null;
  out: string;
  err: string;
}

/**
 * Runs `script` (a .ts file) with `node --import tsx` and without ETCD_ENDPOINTS in its
 * environment, so it starts its own etcd as on a fresh machine. Resolves once it has exited; it
 * is SIGKILLed if it is still running after `timeoutMs`.
 */
export async function runExample(script: string, { timeoutMs }: { timeoutMs: number }): Promise<ExampleRun> {
  const env = { ...process.env };
  delete env.ETCD_ENDPOINTS;
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    out += text;
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    err += text;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  return { code, out, err };
}
