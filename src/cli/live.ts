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
  const json = wantsJson(flags, stream);
  const once = view.once ?? flags.boolean('once');
  const screen = json ? undefined : new Screen(stream);
  let connection: ConnectionState = 'connected';
  let latest: S | undefined;
  const subs: Subscription[] = [];
  let ticker: NodeJS.Timeout | undefined;

  const redraw = (): void => {
    if (!screen || latest === undefined || view.mode !== 'redraw') return;
    const status = connection === 'connected' ? '' : `  [etcd ${connection}]`;
    screen.draw([`${view.title}${status}`, ...view.screen(latest, Date.now())]);
  };

  return new Promise<number>((resolve, reject) => {
    let ended = false;
    const end = async (failure?: unknown): Promise<void> => {
      if (ended) return;
      ended = true;
      for (const s of subs) s.unsubscribe();
      clearInterval(ticker);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      screen?.end();
      await closeWithin(concord, CLOSE_WAIT_MS);
      if (failure === undefined) resolve(EXIT.OK);
      else reject(failure);
    };
    const stop = (): void => void end();
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);

    subs.push(
      concord.state$.pipe(skip(1)).subscribe((state) => {
        if (state === 'connecting' || state === 'closed' || state === connection) return;
        connection = state;
        if (json) stream.write(jsonLine({ type: 'connection', state }));
        else if (view.mode === 'append') stream.write(`-- etcd ${state}\n`);
        redraw();
      }),
    );
    if (screen && view.mode === 'append') stream.write(`${view.title}\n`);
    const states = once ? view.states.pipe(take(1)) : view.states;
    subs.push(
      states.subscribe({
        next: (state) => {
          latest = state;
          if (json) for (const line of view.json(state)) stream.write(jsonLine(line));
          else if (view.mode === 'redraw') redraw();
          else for (const line of view.screen(state, Date.now())) stream.write(`${line}\n`);
        },
        error: (err: unknown) => void end(err),
        complete: () => void end(),
      }),
    );
    if (screen && view.mode === 'redraw' && !once) ticker = setInterval(redraw, TICK_MS);
  });
}
