// What the chaos test and its worker processes share: the key layout of the workloads and the
// messages they exchange (JSON lines, see test/support/worker.ts). Bigints travel as decimal strings.

/** Mutex guarding the counter. */
export const COUNTER_LOCK = 'chaos-counter';
/** The counter's value (decimal). */
export const COUNTER_KEY = 'chaos/counter/value';
/** `<prefix><n>` = the op id that moved the counter to n. */
export const COUNTER_LOG = 'chaos/counter/log/';
/** `<prefix><op id>` = the n that op wrote. */
export const COUNTER_OPS = 'chaos/counter/ops/';
/** Semaphore the workers share, and its permits. */
export const SEMAPHORE = 'chaos-sem';
export const SEMAPHORE_PERMITS = 2;
/** Read-write lock the workers share. */
export const RWLOCK = 'chaos-rw';
/**
 * `<prefix><lock>/<fencing token>/<seq>` = worker id: writes guarded by a semaphore permit
 * (`semaphore`) or an rwlock side (`read`, `write`), committed with the handle's txn.
 */
export const GUARDED = 'chaos/guarded/';
/** Which lock guarded a write under {@link GUARDED}. */
export type GuardedLock = 'semaphore' | 'read' | 'write';

/** The election the workers run for. */
export const ELECTION = 'chaos';
/** `<prefix><term>/<seq>` = worker id: the leaders' writes, fenced by their term. */
export const FENCED = 'chaos/fenced/';
/** The election whose leaders work through `whileLeader` (requeue), and where their work writes. */
export const SCOPED_ELECTION = 'chaos-scoped';
/** `<prefix><term>/<seq>` = worker id: writes of leader work scoped with whileLeader, fenced by its term. */
export const SCOPED = 'chaos/scoped/';
/** Service the workers register; discovery consumers follow it. */
export const SERVICE = 'chaos-svc';
/** Registry prefix (the default). */
export const SERVICE_PREFIX = 'services/';
/** Live config prefix. */
export const CONFIG_PREFIX = 'chaos-config/';

/** Decimal, zero-padded to 20 digits, so keys sort numerically. */
export function pad(n: bigint | number): string {
  return n.toString().padStart(20, '0');
}

/** Outcome of a guarded write as the worker saw it: `unknown` when the call failed (it may have committed). */
export type WriteResult = 'committed' | 'rejected' | 'unknown';

/** Messages from a worker. */
export type WorkerEvent =
  | { type: 'ready'; worker: string; pid: number }
  | { type: 'counter'; worker: string; op: string; n: number; result: WriteResult; error?: string }
  | { type: 'guarded'; worker: string; lock: GuardedLock; key: string; result: WriteResult; error?: string }
  | { type: 'elected'; worker: string; term: string }
  | { type: 'deposed'; worker: string; term: string; reason: string }
  | { type: 'fenced'; worker: string; term: string; seq: number; result: WriteResult; error?: string }
  /** whileLeader work started with `term` (its signal not aborted yet). */
  | { type: 'scoped-elected'; worker: string; term: string }
  /** whileLeader work returned: its signal aborted with `reason` (a loss or the drain at stop). */
  | { type: 'scoped-stopped'; worker: string; term: string; reason: string }
  | { type: 'scoped'; worker: string; term: string; seq: number; result: WriteResult; error?: string }
  | { type: 'stream-error'; worker: string; stream: string; error: string }
  | {
      type: 'report';
      worker: string;
      instances: ReportedInstance[] | null;
      config: unknown;
      stats: Record<string, number>;
    }
  | { type: 'stopped'; worker: string }
  | { type: 'closed'; worker: string };

/** A discovered instance as a worker reports it. */
export interface ReportedInstance {
  id: string;
  address: string;
  key: string;
  revision: string;
}

/** Commands to a worker. */
export type WorkerCommand =
  /** Reply with a `report` of what the consumers see now. */
  | { cmd: 'report' }
  /** Stop every workload (release locks, resign, stop writing); reply `stopped`. Consumers keep following. */
  | { cmd: 'stop' }
  /** `concord.close()`; reply `closed`. The process stays up until `exit`. */
  | { cmd: 'close' }
  | { cmd: 'exit' };
