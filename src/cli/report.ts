import type { Flags } from './args.js';
import { EXIT } from './exit.js';
import { shellStatus } from './guard.js';
import { jsonLine } from './output.js';

/**
 * What `lock` and `elect` say about themselves. Their stdout belongs to CMD, so they speak on
 * stderr: JSON lines with `--json`, text when stderr is a terminal, and otherwise nothing but
 * errors (a cron job stays silent unless something is wrong).
 */
export class Reporter {
  readonly #json: boolean;
  readonly #text: boolean;

  constructor(
    flags: Flags,
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
  ) {
    this.#json = flags.boolean('json');
    this.#text = !this.#json && stream.isTTY === true;
  }

  /** An event: `fields` as a JSON line `{"type": type, "time": ..., ...fields}`, or `text` on a terminal. */
  event(type: string, fields: Record<string, unknown>, text: string): void {
    if (this.#json) this.stream.write(jsonLine({ type, time: new Date().toISOString(), ...fields }));
    else if (this.#text) this.stream.write(`concord-etcd: ${text}\n`);
  }

  /** A problem: always shown, as an `error` event with `--json`. */
  problem(text: string): void {
    if (this.#json)
      this.stream.write(jsonLine({ type: 'error', time: new Date().toISOString(), message: text }));
    else this.stream.write(`concord-etcd: ${text}\n`);
  }
}

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * The signals `lock` and `elect` act on (SIGINT, SIGTERM, SIGHUP), caught for as long as the tool
 * runs: while it waits they cancel the wait; while CMD runs they are forwarded to it. Remembers the
 * first one, for the exit code when CMD never ran (128 + its number: 130 for SIGINT).
 */
export class Interrupts {
  #first: NodeJS.Signals | undefined;
  #handler: ((signal: NodeJS.Signals) => void) | undefined;
  readonly #listener = (signal: NodeJS.Signals): void => {
    this.#first ??= signal;
    this.#handler?.(signal);
  };

  constructor() {
    for (const signal of FORWARDED) process.on(signal, this.#listener);
  }

  /** The first signal received, if any. */
  get received(): NodeJS.Signals | undefined {
    return this.#first;
  }

  /** Who handles the next signals (undefined: only remember them). */
  set handler(handler: ((signal: NodeJS.Signals) => void) | undefined) {
    this.#handler = handler;
  }

  /** 128 + the number of the first signal received (130 for SIGINT, 143 for SIGTERM). */
  get exitCode(): number {
    return this.#first ? shellStatus(null, this.#first) : EXIT.FAILURE;
  }

  /** Stops catching the signals. */
  dispose(): void {
    for (const signal of FORWARDED) process.off(signal, this.#listener);
  }
}
