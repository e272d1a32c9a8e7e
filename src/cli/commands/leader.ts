import { map, scan } from 'rxjs';
import type { LeaderInfo } from '../../election/types.js';
import type { CommandSpec, Parsed } from '../args.js';
import { CONNECTION_OPTIONS, connect } from '../connect.js';
import { LAYOUT_OPTION, layoutFlag } from '../layout.js';
import { runView } from '../live.js';
import { duration, VIEW_OPTIONS } from '../output.js';

export const spec: CommandSpec = {
  name: 'leader',
  usage: 'leader NAME [--layout go] [--json] [--once]',
  summary: "follow an election's leader: value, term, how long each one led",
  description: `Follows the leader of the election NAME (the library's concord.election(NAME), which
"concord-etcd elect NAME" campaigns in): who leads, since when, with which term (the
fencing token), and how long each earlier leader held. A leader that was already leading
when the view started has led at least since then ("sinceStart": true / "≥").

JSON lines, one per change ("change": initial, elected, proclaimed or vacant):
  {"type":"leader","name":"scheduler","change":"elected",
   "leader":{"key":"election/scheduler/694d...-1","value":"host-a:4711","term":"42",
             "since":"2025-01-01T10:00:00.000Z","sinceStart":false},
   "previous":{"key":...,"value":"host-b:99","term":"40","heldMs":61234,
               "heldAtLeast":false}}
"leader" is null while nobody leads; "previous" is the leadership that just ended.`,
  options: { ...LAYOUT_OPTION, ...VIEW_OPTIONS, ...CONNECTION_OPTIONS },
  positionals: { min: 1, max: 1, names: 'NAME' },
};

/** One leadership as the view saw it. */
export interface Reign {
  info: LeaderInfo;
  /** When the view first saw it lead (epoch ms). */
  since: number;
  /** It already led when the view started: it has led at least since `since`. */
  sinceStart: boolean;
  /** When it ended (epoch ms), for past reigns. */
  until?: number;
}

/** The view's state after each change. */
export interface LeaderState {
  change: 'initial' | 'elected' | 'proclaimed' | 'vacant';
  current: Reign | undefined;
  /** The reign that this change ended, if any. */
  ended: Reign | undefined;
  /** Past reigns, newest first (at most {@link HISTORY}). */
  history: Reign[];
}

const HISTORY = 10;

/** Folds one observation of the leader into the state (pure; `now` in epoch ms). */
export function nextLeaderState(
  state: LeaderState | undefined,
  info: LeaderInfo | undefined,
  now: number,
): LeaderState {
  if (state === undefined) {
    const current = info && { info, since: now, sinceStart: true };
    return { change: 'initial', current, ended: undefined, history: [] };
  }
  const before = state.current;
  if (before && info && before.info.key === info.key && before.info.term === info.term) {
    return { ...state, change: 'proclaimed', current: { ...before, info }, ended: undefined };
  }
  const ended = before && { ...before, until: now };
  const history = ended ? [ended, ...state.history].slice(0, HISTORY) : state.history;
  const current = info && { info, since: now, sinceStart: false };
  return { change: info ? 'elected' : 'vacant', current, ended, history };
}

export async function run({ flags, positionals }: Parsed): Promise<number> {
  const name = positionals[0]!;
  const layout = layoutFlag(flags);
  const concord = await connect(flags);
  const states = concord.election(name, { layout }).leader$.pipe(
    scan<LeaderInfo | undefined, LeaderState | undefined>(
      (state, info) => nextLeaderState(state, info, Date.now()),
      undefined,
    ),
    map((state) => state!),
  );
  return runView(concord, flags, {
    title: `election '${name}'`,
    mode: 'redraw',
    states,
    json: (state) => [
      {
        type: 'leader',
        name,
        change: state.change,
        leader: state.current ? reignJson(state.current) : null,
        previous: state.ended ? endedJson(state.ended) : null,
      },
    ],
    screen: leaderLines,
  });
}

function reignJson(reign: Reign) {
  const { key, value, term } = reign.info;
  return { key, value, term, since: new Date(reign.since).toISOString(), sinceStart: reign.sinceStart };
}

function endedJson(reign: Reign) {
  const { key, value, term } = reign.info;
  return {
    key,
    value,
    term,
    heldMs: (reign.until ?? reign.since) - reign.since,
    heldAtLeast: reign.sinceStart,
  };
}

function leaderLines(state: LeaderState, now: number): string[] {
  const held = (reign: Reign, end: number) => `${reign.sinceStart ? '≥ ' : ''}${duration(end - reign.since)}`;
  const lines = state.current
    ? [
        `leader   ${state.current.info.value}   term ${state.current.info.term}   leading for ${held(state.current, now)}`,
        `         key ${state.current.info.key}`,
      ]
    : ['leader   (none)'];
  if (state.history.length > 0) {
    lines.push('', 'earlier leaders, newest first:');
    for (const reign of state.history) {
      const ago = duration(now - (reign.until ?? now));
      lines.push(
        `  ${reign.info.value}   term ${reign.info.term}   led ${held(reign, reign.until ?? now)}   (until ${ago} ago)`,
      );
    }
  }
  return lines;
}
