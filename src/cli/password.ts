import { readSync } from 'node:fs';
import { EXIT, ExitError, UsageError } from './exit.js';

/**
 * The password of `--user NAME`: `CONCORD_PASSWORD` when set, otherwise standard input. Never
 * a flag: anything on the command line shows in `ps` to every user of the machine.
 *
 * From a terminal it prompts on stderr and reads without echo. From a pipe or a file it reads
 * the first line one byte at a time, so whatever follows it is still there for CMD (`lock`,
 * `elect`), which inherits standard input.
 */
export async function readPassword(user: string): Promise<string> {
  const fromEnv = process.env.CONCORD_PASSWORD;
  if (fromEnv !== undefined) return fromEnv;
  const password = process.stdin.isTTY ? await promptHidden(`Password for ${user}: `) : readFirstLine();
  if (password === undefined) {
    throw new UsageError(
      `--user ${user}: no password: set CONCORD_PASSWORD or write it as the first line of standard input`,
    );
  }
  return password;
}

function readFirstLine(): string | undefined {
  const bytes: number[] = [];
  const one = Buffer.alloc(1);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, one, 0, 1, null);
    } catch (err) {
      // A non-blocking pipe with nothing in it yet: wait a little, without spinning.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      continue;
    }
    if (n === 0) break;
    if (one[0] === 0x0a) return stripCr(bytes);
    bytes.push(one[0]!);
  }
  return bytes.length > 0 ? stripCr(bytes) : undefined;
}

function stripCr(bytes: number[]): string {
  return Buffer.from(bytes).toString('utf8').replace(/\r$/, '');
}

function promptHidden(prompt: string): Promise<string | undefined> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  let typed = '';
  return new Promise((resolve, reject) => {
    const done = (): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: string): void => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n' || char === '\u0004') {
          done();
          resolve(typed);
          return;
        }
        if (char === '\u0003') {
          done();
          reject(new ExitError('interrupted', EXIT.SIGINT));
          return;
        }
        typed = char === '\u007f' || char === '\b' ? typed.slice(0, -1) : typed + char;
      }
    };
    stdin.on('data', onData);
  });
}
