// The child side of spawnWorker(): a worker script imports send/onMessage from here to talk to the
// test that spawned it. Messages are JSON lines: stdout towards the parent, stdin from it.
import { createInterface } from 'node:readline';

type Listener = (msg: unknown) => void;
const listeners: Listener[] = [];
let reading = false;

/**
 * Sends `msg` to the parent as one JSON line on stdout (bigints become decimal strings, since etcd
 * revisions are bigints and JSON has none). Writes to a pipe are synchronous on Linux, so a message
 * sent just before process.exit() still arrives. Do not print anything else to stdout that could
 * be mistaken for a message; use stderr (the parent shows it when a wait fails).
 */
export function send(msg: Record<string, unknown>): void {
  process.stdout.write(
    `${JSON.stringify(msg, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value))}\n`,
  );
}

/**
 * Calls `cb` with every message the parent sends (each JSON line on stdin, parsed; lines that are
 * not JSON are ignored). Once this is called the worker stays alive while stdin is open and exits
 * (code 0) when the parent closes it or dies, so a worker never outlives its test.
 */
export function onMessage(cb: (msg: unknown) => void): void {
  listeners.push(cb);
  if (reading) return;
  reading = true;
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    for (const listener of listeners) listener(msg);
  });
  lines.on('close', () => process.exit(0));
}
