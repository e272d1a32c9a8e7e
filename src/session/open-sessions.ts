import type { Runtime } from '../core/runtime.js';
import type { SessionStats } from './types.js';

/** What the stats read of a session. */
interface Budgeted {
  readonly isAlive: boolean;
  timeLeft(): number;
}

/** The sessions each Concord keeps alive now, for `concord.sessionStats()`. */
const openSessions = new WeakMap<Runtime, Set<Budgeted>>();

/** Counts `session` as open on `runtime` until the returned function is called. */
export function countOpen(runtime: Runtime, session: Budgeted): () => void {
  const open = openSessions.get(runtime) ?? new Set<Budgeted>();
  openSessions.set(runtime, open);
  open.add(session);
  return () => openSessions.get(runtime)?.delete(session);
}

/** @internal `concord.sessionStats()`: the sessions kept alive now and the shortest budget among them. */
export function sessionStats(runtime: Runtime): SessionStats {
  let open = 0;
  let shortest: number | undefined;
  for (const session of openSessions.get(runtime) ?? []) {
    // Read first: reading isAlive may find the deadline passed and end the session.
    if (!session.isAlive) continue;
    const left = session.timeLeft();
    open++;
    shortest = shortest === undefined ? left : Math.min(shortest, left);
  }
  return { open, shortestTimeLeftMs: shortest };
}
