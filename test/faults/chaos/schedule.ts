import { Random } from './random.js';

/** One fault the chaos suite can inject. Members and workers are indexes. */
export type Fault =
  /** SIGKILL a member, start it again after `downMs`. */
  | { kind: 'kill-member'; member: number; downMs: number }
  /** SIGKILL whichever member leads raft at that moment, start it again after `downMs`. */
  | { kind: 'kill-leader'; downMs: number }
  /** Reset every connection of a worker (all its proxies). */
  | { kind: 'cut'; worker: number }
  /** Drop every byte to and from a worker for `durationMs`, then reset its connections. */
  | { kind: 'blackhole'; worker: number; durationMs: number }
  /** Blackhole only a worker's path to one member (it can fail over to the others). */
  | { kind: 'blackhole-path'; worker: number; member: number; durationMs: number }
  /** SIGSTOP a worker for `durationMs` (past its session TTL), then SIGCONT. */
  | { kind: 'pause'; worker: number; durationMs: number }
  /** Compact etcd's history at the current revision. */
  | { kind: 'compact' };

/** A fault and when (ms after the workload started) it begins. */
export interface ScheduledFault {
  at: number;
  fault: Fault;
}

/** What the schedule is made for. */
export interface ScheduleSettings {
  seed: number;
  durationMs: number;
  members: number;
  workers: number;
  /** Session TTL of the workers, in seconds: pauses last longer than it. */
  ttlSeconds: number;
}

// How often each kind is drawn. Member kills are rarer: each costs a restart (several seconds of CPU).
const WEIGHTS = {
  'kill-member': 2,
  'kill-leader': 2,
  cut: 3,
  blackhole: 2,
  'blackhole-path': 2,
  pause: 3,
  compact: 2,
} as const;
// A member needs this long after its restart to catch up before another one may go down.
const MEMBER_RECOVERY_MS = 4_000;

/**
 * The fault schedule of one run, a pure function of its settings: the same seed always yields the
 * same faults at the same offsets against the same targets (kill-leader resolves its target when
 * it runs). At most one member is down at a time, so the cluster keeps its quorum; a worker is
 * never paused or blackholed twice at once; every fault ends before `durationMs`.
 */
export function makeSchedule(settings: ScheduleSettings): ScheduledFault[] {
  const random = new Random(settings.seed);
  const schedule: ScheduledFault[] = [];
  let membersBusyUntil = 0;
  const pausedUntil = new Array<number>(settings.workers).fill(0);
  const blackholedUntil = new Array<number>(settings.workers).fill(0);
  const ttlMs = settings.ttlSeconds * 1000;
  // A short calm start lets every workload get going before the first fault.
  let at = 2_000;
  for (;;) {
    at += random.int(400, 2_200);
    if (at >= settings.durationMs - 1_000) break;
    const room = settings.durationMs - at;
    const kind = random.weighted(WEIGHTS);
    const worker = random.int(0, settings.workers - 1);
    const member = random.int(0, settings.members - 1);
    let fault: Fault | undefined;
    switch (kind) {
      case 'kill-member':
      case 'kill-leader': {
        const downMs = Math.min(random.int(500, 4_000), room);
        if (at < membersBusyUntil) break;
        membersBusyUntil = at + downMs + MEMBER_RECOVERY_MS;
        fault = kind === 'kill-member' ? { kind, member, downMs } : { kind, downMs };
        break;
      }
      case 'cut':
        fault = { kind, worker };
        break;
      case 'blackhole':
      case 'blackhole-path': {
        const durationMs = Math.min(random.int(500, ttlMs + 2_000), room);
        if (at < blackholedUntil[worker]!) break;
        blackholedUntil[worker] = at + durationMs;
        fault = kind === 'blackhole' ? { kind, worker, durationMs } : { kind, worker, member, durationMs };
        break;
      }
      case 'pause': {
        const durationMs = Math.min(ttlMs + random.int(500, 3_000), room);
        if (at < pausedUntil[worker]!) break;
        pausedUntil[worker] = at + durationMs;
        fault = { kind, worker, durationMs };
        break;
      }
      case 'compact':
        fault = { kind };
        break;
    }
    if (fault) schedule.push({ at, fault });
  }
  return schedule;
}

/** One line per fault, for logs and failure messages. */
export function describeFault({ at, fault }: ScheduledFault): string {
  const when = `+${(at / 1000).toFixed(1)}s`;
  switch (fault.kind) {
    case 'kill-member':
      return `${when} kill member m${fault.member} for ${fault.downMs} ms`;
    case 'kill-leader':
      return `${when} kill the raft leader for ${fault.downMs} ms`;
    case 'cut':
      return `${when} cut worker w${fault.worker}'s connections`;
    case 'blackhole':
      return `${when} blackhole worker w${fault.worker} for ${fault.durationMs} ms`;
    case 'blackhole-path':
      return `${when} blackhole worker w${fault.worker}'s path to m${fault.member} for ${fault.durationMs} ms`;
    case 'pause':
      return `${when} pause worker w${fault.worker} for ${fault.durationMs} ms`;
    case 'compact':
      return `${when} compact`;
  }
}
