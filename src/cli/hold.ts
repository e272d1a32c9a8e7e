import type { Observable } from 'rxjs';
import type { Concord } from '../concord.js';
import type { Flags, OptionSpec } from './args.js';
import { closeWithin, connect } from './connect.js';
import { duration } from './output.js';
import { Interrupts, Reporter } from './report.js';
import { type CommandEnd, CommandRun } from './supervise.js';

/**
 * Default lease TTL of `lock` and `elect`, in seconds: with the default grace the SIGTERM margin
 * (4 s) stays under a third of it, so one lost keepalive (they go every third) kills nothing.
 */
export const DEFAULT_TTL_S = 15;
/** Default time CMD gets between SIGTERM and SIGKILL, in ms. */
export const DEFAULT_GRACE_MS = 3_000;
/**
 * Time kept between the SIGKILL and the local deadline: for the kill and the timers themselves
 * to run late on a busy machine. The local deadline is itself earlier than etcd's expiry.
 */
export const KILL_SLACK_MS = 1_000;
/** The longest the tool waits for etcd to take a release or resignation before it exits anyway. */
export const RELEASE_WAIT_MS = 2_000;
/** The longest the tool waits for the Concord to close (leases revoked) before it exits anyway. */
const CLOSE_WAIT_MS = 3_000;

/** The flags `lock` and `elect` share. */
export const HOLD_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  ttl: {
    type: 'string',
    value: 'S',
    help: `lease TTL in seconds (integer >= 2, default ${DEFAULT_TTL_S}): how long\nthe key outlives a crashed host`,
  },
  grace: {
    type: 'string',
    value: 'MS',
    help: `time between SIGTERM and SIGKILL when the lease runs low\n(default ${DEFAULT_GRACE_MS}); --grace + ${KILL_SLACK_MS} must be at most half the TTL`,
  },
  json: { type: 'boolean', help: "report events on stderr as JSON lines (stdout is CMD's)" },
};

/** What CMD runs under: a lock handle or a leadership (both have this budget). */
export interface Holding {
  /** The full etcd key (namespace included), for CMD's own guarded writes. */
  key: string;
  /** The fencing token: the key's create revision. */
  token: bigint;
  budget: {
    /** Emits once when fewer than `marginMs` are left of the lease, or at loss. */
    expiring$(marginMs: number): Observable<unknown>;
    /** Milliseconds left of the lease's local deadline; 0 once lost. */
    timeLeft(): number;
  };
}

/** What `lock` and `elect` run with. */
export interface HoldContext {
  concord: Concord;
  budget: Budget;
  report: Reporter;
  interrupts: Interrupts;
  /** The full etcd key of a key the library names without the namespace. */
  fullKey(key: string): string;
}

/**
 * Reads the budget flags, catches the signals, connects, and runs `body`; whatever `body` does,
 * the Concord is then closed (at most {@link CLOSE_WAIT_MS}) and the signals are let go.
 */
export async function withHold(
  flags: Flags,
  body: (context: HoldContext) => Promise<number>,
): Promise<number> {
  const budget = budgetOf(flags);
  const report = new Reporter(flags);
  const interrupts = new Interrupts();
  try {
    const concord = await connect(flags);
    const namespace = flags.string('namespace') ?? '';
    try {
      // Interrupted while connecting: stop before taking anything.
      if (interrupts.received) return interrupts.exitCode;
      return await body({ concord, budget, report, interrupts, fullKey: (key) => `${namespace}${key}` });
    } finally {
      await closeWithin(concord, CLOSE_WAIT_MS);
    }
  } finally {
    interrupts.dispose();
  }
}

/** The lease budget of `lock`/`elect`: TTL, grace and the margin at which CMD gets SIGTERM. */
export interface Budget {
  ttl: number;
  graceMs: number;
  /** SIGTERM once fewer than this many ms are left: the grace, then the slack, fit before the deadline. */
  marginMs: number;
}

/**
 * Reads --ttl and --grace. The SIGTERM goes out `grace + 1 s` before the local deadline; that
 * margin must stay under half the TTL, since the deadline regularly comes within two thirds of
 * the TTL between keepalives (every third of it) and a bigger margin would kill healthy runs.
 */
export function budgetOf(flags: Flags): Budget {
  const ttl = flags.integer('ttl', DEFAULT_TTL_S, 2, 1_000_000);
  const graceMs = flags.integer('grace', DEFAULT_GRACE_MS, 0);
  const marginMs = graceMs + KILL_SLACK_MS;
  if (marginMs > (ttl * 1000) / 2) {
    throw flags.bad(
      'grace',
      `plus ${KILL_SLACK_MS} ms must be at most half the TTL (${(ttl * 1000) / 2} ms with --ttl ${ttl}): lower --grace or raise --ttl`,
      String(graceMs),
    );
  }
  return { ttl, graceMs, marginMs };
}

/** How a run under a holding ended. */
export interface HoldOutcome {
  end: CommandEnd;
  /** True when CMD was terminated because the lease ran low or the holding was lost. */
  lost: boolean;
}

/**
 * Runs CMD (with CONCORD_KEY and CONCORD_FENCING_TOKEN in its environment) while `holding`
 * lasts. When its budget falls under the margin, or it is lost, CMD gets SIGTERM and, after the
 * grace, SIGKILL: all before the local deadline, hence before etcd can expire the lease and hand
 * it on. SIGINT/SIGTERM/SIGHUP to the tool are forwarded to CMD. Resolves once CMD has ended.
 */
export async function runWhileHolding(
  holding: Holding,
  command: readonly string[],
  budget: Budget,
  report: Reporter,
  interrupts: Interrupts,
): Promise<HoldOutcome> {
  const env = { ...process.env, CONCORD_KEY: holding.key, CONCORD_FENCING_TOKEN: holding.token.toString() };
  const run = new CommandRun(command, env, budget.graceMs);
  let lost = false;
  const alarm = holding.budget.expiring$(budget.marginMs).subscribe(() => {
    lost = true;
    const left = holding.budget.timeLeft();
    report.event(
      'terminating',
      { reason: left > 0 ? 'budget' : 'lost', timeLeftMs: Math.round(left), graceMs: budget.graceMs },
      left > 0
        ? `lease budget low (${duration(left)} left): SIGTERM to ${command[0]}, SIGKILL in ${duration(budget.graceMs)}`
        : `${command[0]}: the hold is lost: SIGTERM, SIGKILL in ${duration(budget.graceMs)}`,
    );
    run.terminate(budget.graceMs);
  });
  interrupts.handler = (signal) => {
    report.event('forwarded', { signal }, `${signal} forwarded to ${command[0]}`);
    run.signal(signal);
  };
  void run.started.then((pid) =>
    report.event('started', { pid, command }, `running ${command.join(' ')} (pid ${pid})`),
  );
  const end = await run.ended;
  alarm.unsubscribe();
  interrupts.handler = undefined;
  report.event('exited', { status: end.status, how: end.how }, `${command[0]} ended: ${end.how}`);
  return { end, lost };
}
