import { type Observable, type Subscription, skip, take } from 'rxjs';
import type { Concord } from '../concord.js';
import type { ConnectionState } from '../core/connection.js';
import type { Flags } from './args.js';
import { closeWithin } from './connect.js';
import { EXIT } from './exit.js';
import { jsonLine, type OutputStream, Screen, wantsJson } from './output.js';

/** A live view: a stream of states and how to print each one. */
export interface LiveView<S> {
  /** The title line on a terminal. */
  title: string;
  /** A new state on every change; an error ends the view (and the tool, with its exit code). */
  states: Observable<S>;
  /** The JSON objects to print for a new state, one line each. */
  json(state: S): readonly unknown[];
  /**
   * The terminal lines of a state. `redraw` views replace their block in place (and are redrawn
   * every second, for the durations they show); `append` views (`watch`) print a log.
   */
  screen(state: S, now: number): readonly string[];
  mode: 'redraw' | 'append';
  /** Print the first state only, then end (default: the --once flag). */
  once?: boolean;
}

const CLOSE_WAIT_MS = 3_000;
const TICK_MS = 1_000;

/** Prints a view's states and the connection's changes, as JSON lines or on the terminal. */
class ViewPrinter<S> {
  #latest: S | undefined;
  #connection: ConnectionState = 'connected';

  constructor(
    private readonly view: LiveView<S>,
    private readonly stream: OutputStream,
    /** Undefined when printing JSON lines. */
    readonly screen: Screen | undefined,
  ) {
    if (screen && view.mode === 'append') stream.write(`${view.title}\n`);
  }

  state(state: S): void {
    this.#latest = state;
    if (!this.screen) for (const line of this.view.json(state)) this.stream.write(jsonLine(line));
    else if (this.view.mode === 'redraw') this.redraw();
    else for (const line of this.view.screen(state, Date.now())) this.stream.write(`${line}\n`);
  }

  /** etcd went away or came back (after the first connection, which the connect probe made). */
  connection(state: ConnectionState): void {
    if (state === 'connecting' || state === 'closed' || state === this.#connection) return;
    this.#connection = state;
    if (!this.screen) this.stream.write(jsonLine({ type: 'connection', state }));
    else if (this.view.mode === 'append') this.stream.write(`-- etcd ${state}\n`);
    this.redraw();
  }

  redraw(): void {
    if (!this.screen || this.#latest === undefined || this.view.mode !== 'redraw') return;
    const status = this.#connection === 'connected' ? '' : `  [etcd ${this.#connection}]`;
    this.screen.draw([`${this.view.title}${status}`, ...this.view.screen(this.#latest, Date.now())]);
  }
}

/**
 * Runs a live view until SIGINT or SIGTERM (or, with `--once`, its first state): prints every
 * state as JSON lines or on the terminal, follows the connection (JSON: `{"type":"connection"}`
 * lines when etcd goes away and comes back), then unsubscribes and closes the Concord, so the
 * process exits by itself. Resolves with the exit code; rejects with the view's error.
 */
export function runView<S>(
  concord: Concord,
  flags: Flags,
  view: LiveView<S>,
  stream: OutputStream = process.stdout,
): Promise<number> {
  const once = view.once ?? flags.boolean('once');
  const printer = new ViewPrinter(view, stream, wantsJson(flags, stream) ? undefined : new Screen(stream));
  const subs: Subscription[] = [];
  let ticker: NodeJS.Timeout | undefined;
  return new Promise<number>((resolve, reject) => {
    let ended = false;
    const end = async (failure?: unknown): Promise<void> => {
      if (ended) return;
      ended = true;
      for (const s of subs) s.unsubscribe();
      clearInterval(ticker);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      printer.screen?.end();
      await closeWithin(concord, CLOSE_WAIT_MS);
      if (failure === undefined) resolve(EXIT.OK);
      else reject(failure);
    };
    const stop = (): void => void end();
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    subs.push(concord.state$.pipe(skip(1)).subscribe((state) => printer.connection(state)));
    subs.push(
      (once ? view.states.pipe(take(1)) : view.states).subscribe({
        next: (state) => printer.state(state),
        error: (err: unknown) => void end(err),
        complete: () => void end(),
      }),
    );
    if (printer.screen && view.mode === 'redraw' && !once)
      ticker = setInterval(() => printer.redraw(), TICK_MS);
  });
}
