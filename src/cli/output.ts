import type { Flags, OptionSpec } from './args.js';

/** The output flags of the live views. */
export const VIEW_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  json: {
    type: 'boolean',
    help: 'one JSON object per line (the default when stdout is not a\nterminal); bigints (revisions, tokens) as decimal strings',
    group: 'Output',
  },
  once: { type: 'boolean', help: 'print the current state once and exit', group: 'Output' },
};

/** The stream a view writes to: stdout, or a fake one in unit tests. */
export interface OutputStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
  readonly rows?: number;
}

/** Whether to print JSON lines: asked for, or stdout is not a terminal. */
export function wantsJson(flags: Flags, stream: OutputStream = process.stdout): boolean {
  return flags.boolean('json') || stream.isTTY !== true;
}

/** `value` as one line of JSON, bigints as decimal strings. */
export function jsonLine(value: unknown): string {
  return `${JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** A stored value for JSON: its text when it is UTF-8, else base64, so no byte is lost. */
export function storedValue(bytes: Buffer): { value: string } | { valueBase64: string } {
  try {
    return { value: UTF8.decode(bytes) };
  } catch {
    return { valueBase64: bytes.toString('base64') };
  }
}

/** A stored value for a terminal: its text with control characters escaped, cut at `max` characters. */
export function shown(bytes: Buffer, max = 60): string {
  const value = storedValue(bytes);
  if ('valueBase64' in value) return `<${bytes.length} bytes, not UTF-8>`;
  const escaped = JSON.stringify(value.value).slice(1, -1);
  return escaped.length > max ? `${escaped.slice(0, max - 1)}…` : escaped;
}

/** A duration for people: `850ms`, `12.3s`, `4m05s`, `2h07m`, `3d04h`. */
export function duration(ms: number): string {
  if (ms < 1_000) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)}s`;
  const s = Math.floor(ms / 1_000);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 3_600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3_600)}h${pad(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86_400)}d${pad(Math.floor(s / 3_600) % 24)}h`;
}

/** A byte count for people: `512 B`, `1.5 MiB`. */
export function byteSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * A block of lines redrawn in place on a terminal: each `draw` moves the cursor back over the
 * previous block and clears it first. Lines are cut to the terminal's width (a wrapped line
 * would break the count of lines to go back over) and the block to its height (80x24 when the
 * terminal reports no size), so the view never scrolls away from itself.
 */
export class Screen {
  #drawn = 0;
  #started = false;

  constructor(private readonly stream: OutputStream) {}

  /** Replaces the block on screen with `lines`. */
  draw(lines: readonly string[]): void {
    const width = Math.max(20, this.stream.columns || 80);
    const height = Math.max(3, (this.stream.rows || 24) - 1);
    const fitted =
      lines.length > height ? [...lines.slice(0, height - 1), `… ${lines.length - height + 1} more`] : lines;
    const cut = fitted.map((line) =>
      [...line].length > width ? `${[...line].slice(0, width - 1).join('')}…` : line,
    );
    // Hide the cursor while the view runs; `end()` shows it again.
    const hide = this.#started ? '' : '\x1b[?25l';
    const back = this.#drawn > 0 ? `\x1b[${this.#drawn}F\x1b[J` : '';
    this.#started = true;
    this.#drawn = cut.length;
    this.stream.write(`${hide}${back}${cut.map((line) => `${line}\n`).join('')}`);
  }

  /** Leaves the last block on screen and shows the cursor again. */
  end(): void {
    if (this.#started) this.stream.write('\x1b[?25h');
    this.#started = false;
  }
}
