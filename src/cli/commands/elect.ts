import { hostname } from 'node:os';
import type { Subscription } from 'rxjs';
import type { Election } from '../../election/election.js';
import type { Leadership } from '../../election/leadership.js';
import { type ConcordErrorCode, isConcordError } from '../../errors.js';
import type { CommandSpec, Flags, Parsed } from '../args.js';
import { CONNECTION_OPTIONS, settleWithin } from '../connect.js';
import { EXIT } from '../exit.js';
import { HOLD_OPTIONS, RELEASE_WAIT_MS, runWhileHolding, withHold } from '../hold.js';
import { LAYOUT_OPTION, layoutFlag } from '../layout.js';
import type { Interrupts, Reporter } from '../report.js';

/** Pause before campaigning again after a campaign failed while waiting (--requeue). */
const RETRY_MS = 1_000;
const RETRYABLE: ReadonlySet<ConcordErrorCode> = new Set([
  'LEADERSHIP_LOST',
  'SESSION_LOST',
  'NOT_CONNECTED',
]);

export const spec: CommandSpec = {
  name: 'elect',
  usage: 'elect NAME [--value V] [--requeue] [--layout go] [--ttl S] [--grace MS] -- CMD...',
  summary: 'run CMD only while leader of the election NAME',
  description: `Campaigns in the election NAME (the library's concord.election(NAME): keys under
election/NAME/, in campaign order; with --layout go, Go's NAME/<lease hex> keys, shared with
Go's concurrency.Election and "etcdctl elect NAME") and runs CMD once elected. When CMD exits, the tool
resigns (the next candidate is elected at once) and exits with CMD's exit code.

CMD's environment adds CONCORD_KEY (the leader key, namespace included) and
CONCORD_FENCING_TOKEN (the term: the key's create revision, greater for every later
leader), to make CMD's own writes conditional on still leading.

Loss, signals and the guard work as for "lock" (see concord-etcd lock --help): when the
lease runs low or the leadership is lost, CMD gets SIGTERM, then SIGKILL after --grace,
before etcd can expire the lease and elect someone else. Without --requeue the tool then
exits with 120; with --requeue it campaigns again and runs CMD again when re-elected (CMD
exiting by itself still ends the tool with its code).

stderr: events as JSON lines with --json, text on a terminal, otherwise only errors.`,
  options: {
    value: {
      type: 'string',
      value: 'V',
      help: 'the value observers see for this candidate\n(default: <hostname>:<pid>)',
    },
    requeue: { type: 'boolean', help: 'after a loss, campaign again and run CMD again when re-elected' },
    ...LAYOUT_OPTION,
    ...HOLD_OPTIONS,
    ...CONNECTION_OPTIONS,
  },
  positionals: { min: 1, max: 1, names: 'NAME' },
  takesCommand: true,
  more: `Examples:
  concord-etcd elect scheduler --requeue -- ./scheduler --loop
  concord-etcd elect backup --value "$(hostname)" -- ./backup.sh`,
};

export function run({ flags, positionals, command }: Parsed): Promise<number> {
  const name = positionals[0]!;
  const layout = layoutFlag(flags);
  const value = flags.string('value') ?? `${hostname()}:${process.pid}`;
  return withHold(flags, async ({ concord, budget, report, interrupts, fullKey }) => {
    const election = concord.election(name, { ttl: budget.ttl, layout });
    for (;;) {
      const won = await campaign(election, value, flags, report, interrupts);
      if (!won) return interrupts.exitCode;
      const { leadership } = won;
      const holding = { key: fullKey(leadership.key), token: leadership.term, budget: leadership };
      const outcome = await runWhileHolding(holding, command, budget, report, interrupts);
      await resign(won, report);
      if (!outcome.lost) return outcome.end.status;
      if (!flags.boolean('requeue') || interrupts.received) return EXIT.LOST;
      report.event('requeue', { name }, `campaigning again for ${name}`);
    }
  });
}

interface Won {
  leadership: Leadership;
  /** The campaign: unsubscribing resigns. */
  subscription: Subscription;
}

/**
 * Campaigns until elected. A signal withdraws the candidacy and resolves to undefined; a
 * campaign that fails while waiting (its session lost) is retried with --requeue, else thrown.
 */
async function campaign(
  election: Election,
  value: string,
  flags: Flags,
  report: Reporter,
  interrupts: Interrupts,
): Promise<Won | undefined> {
  report.event('campaigning', { name: election.name, value }, `campaigning for ${election.name} as ${value}`);
  for (;;) {
    const outcome = await new Promise<Won | 'interrupted' | { failed: unknown }>((resolve) => {
      let subscription: Subscription | undefined;
      let elected = false;
      interrupts.handler = () => {
        subscription?.unsubscribe();
        resolve('interrupted');
      };
      subscription = election.campaign(value).subscribe({
        next: (leadership) => {
          elected = true;
          resolve({ leadership, subscription: subscription! });
        },
        // After election, a loss reaches CMD through the lease budget instead.
        error: (err: unknown) => {
          if (!elected) resolve({ failed: err });
        },
      });
    });
    interrupts.handler = undefined;
    if (outcome === 'interrupted' || interrupts.received) {
      if (typeof outcome === 'object' && 'leadership' in outcome) await resign(outcome, report);
      report.event('cancelled', { signal: interrupts.received }, `${interrupts.received}: withdrew`);
      return undefined;
    }
    if ('leadership' in outcome) {
      const { leadership } = outcome;
      report.event(
        'elected',
        { name: election.name, key: leadership.key, term: leadership.term, value },
        `elected leader of ${election.name} (term ${leadership.term})`,
      );
      return outcome;
    }
    if (!flags.boolean('requeue') || !worthRetrying(outcome.failed)) throw outcome.failed;
    report.problem(`campaign failed (${(outcome.failed as Error).message}); retrying`);
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
}

/** Resigns, waiting at most {@link RELEASE_WAIT_MS}: a silent etcd must not hold the tool. */
/** A campaign that failed for a reason that may pass (its session lost, etcd away), not for bad input. */
function worthRetrying(err: unknown): boolean {
  return isConcordError(err) && RETRYABLE.has(err.code);
}

async function resign({ leadership, subscription }: Won, report: Reporter): Promise<void> {
  const wasLeader = leadership.isLeader;
  const done = await settleWithin(leadership.resign(), RELEASE_WAIT_MS);
  subscription.unsubscribe();
  if (!wasLeader) return;
  if (done) report.event('resigned', { key: leadership.key }, 'resigned');
  else report.problem('could not resign (etcd did not answer); the leader key goes when its lease expires');
}
