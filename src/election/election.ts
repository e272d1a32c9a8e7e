import { defer, distinctUntilChanged, map, type Observable } from 'rxjs';
import { assertFits } from '../core/keys.js';
import type { Runtime } from '../core/runtime.js';
import { checkOptions, checkSegment } from '../core/validate.js';
import { LeadershipLostError } from '../errors.js';
import { toConcordError } from '../etcd/translate.js';
import { Contender, type Entry } from '../queue/contender.js';
import { holdWhile } from '../queue/hold-while.js';
import { queueSpace } from '../queue/keys.js';
import type { QueueTerms } from '../queue/terms.js';
import { newestAhead } from '../queue/turn.js';
import { checkSessionChoice } from '../session/session.js';
import { toKeyValue } from '../watch/decode.js';
import { hubOf } from '../watch/hub.js';
import { checkValue, type ElectionLayout, electionLayout, leaderOf, sameLeader } from './layout.js';
import { createLeadership, type Leadership } from './leadership.js';
import type { ElectionOptions, LeaderInfo } from './types.js';

/** Set by Election's static block: the one way to construct an Election. */
let construct: (runtime: Runtime, name: string, options: ElectionOptions | undefined) => Election;

/** Keys `leader()` reads before reading the whole prefix (only when none of them is a candidate). */
const LEADER_PAGE = 16;

/**
 * A leader election among every campaign for the same name in the same namespace, in any
 * process. Fair: candidates are elected in the order they campaigned (by their key's create
 * revision), and each waits only on the candidate right before it. Keys live under
 * `election/<name>/`: `leadership.txn()` refuses ops there, and only queue entries count as
 * candidates (a key on a lease named by that lease's id, as concord, etcd3 npm and etcd's Go
 * client write them); any other key there is ignored, never taken for the leader.
 */
export class Election {
  /** The election's name, as given. */
  readonly name: string;
  /**
   * The current leader on subscribe (undefined when there is none), then every change: a new
   * leader, a proclaimed value, no leader. All observers of one Concord share one server-side
   * watch; it resumes across reconnects and etcd member failures, and after compaction it
   * re-reads the candidates, so it never goes silent and never reports a leader that is gone.
   */
  readonly leader$: Observable<LeaderInfo | undefined>;

  readonly #runtime: Runtime;
  readonly #options: ElectionOptions;
  readonly #layout: ElectionLayout;
  readonly #terms: QueueTerms<LeadershipLostError>;

  static {
    construct = (runtime, name, options) => new Election(runtime, name, options);
  }

  private constructor(runtime: Runtime, name: string, options: ElectionOptions = {}) {
    checkSegment('name', name);
    const layout = electionLayout(name);
    const space = queueSpace(layout.prefix);
    assertFits('name', runtime.keys.key(layout.prefix));
    checkOptions('options', options, ['session', 'ttl']);
    checkSessionChoice(options);
    runtime.assertOpen('election');
    this.name = name;
    this.#runtime = runtime;
    this.#options = options;
    this.#layout = layout;
    this.#terms = {
      what: `election "${name}"`,
      lost: (message, cause) => new LeadershipLostError(message, cause === undefined ? undefined : { cause }),
      released: () => new LeadershipLostError('the leadership was resigned'),
      // A leader that cannot see its key any more cannot know it still leads.
      unwatchedIsLoss: true,
      space,
    };
    this.leader$ = defer(() => hubOf(runtime).view({ prefix: layout.prefix })).pipe(
      map((view) => leaderOf(view.entries.values(), space)),
      distinctUntilChanged(sameLeader),
    );
  }

  /**
   * Runs for leader with `value` (a string observers see in `leader$`). Cold: subscribing puts
   * the candidate key and queues; the Observable emits one {@link Leadership} once elected.
   * Unsubscribing withdraws the candidacy, or resigns once elected; `leadership.resign()` and
   * `concord.close()` also resign and complete it. It errors with `LeadershipLostError` when
   * the session is lost or the key is deleted, while waiting or while leading; a candidate
   * whose key expired while it waited never emits; it errors with `NotConnectedError` when etcd
   * stays unreachable for the Concord's `connectTimeoutMs` before the candidate key is written.
   * Keep the subscription open while leading:
   * operators that unsubscribe after the first value (`take(1)`, `first()`, `firstValueFrom`)
   * resign at once.
   */
  campaign(value: string): Observable<Leadership> {
    const runtime = this.#runtime;
    runtime.assertOpen('election.campaign');
    const { prefix, naming } = this.#layout;
    const entry: Entry<LeadershipLostError> = {
      terms: this.#terms,
      prefix,
      naming,
      value: checkValue(runtime.keys.key(naming.longest(prefix)), value),
      session: this.#options,
    };
    const win = async (signal: AbortSignal) => {
      const contender = await Contender.enter(runtime, entry, signal);
      return createLeadership(contender, await contender.waitTurn(newestAhead(this.#terms.space)), value);
    };
    return holdWhile(runtime, win, { end: (leadership) => leadership.resign(), completeOnEnd: true });
  }

  /** The current leader, read linearizably, or undefined when no candidate holds the election. */
  async leader(): Promise<LeaderInfo | undefined> {
    const runtime = this.#runtime;
    runtime.assertOpen('election.leader');
    const range = runtime.keys.prefixRange(this.#layout.prefix);
    const read = (limit: number) =>
      runtime.etcd.kv.range({
        key: range.key,
        range_end: range.rangeEnd,
        sort_target: 'Create',
        sort_order: 'Ascend',
        limit,
      });
    try {
      // Oldest first: the leader is the first candidate, unless other keys came before it.
      let res = await read(LEADER_PAGE);
      const candidates = () => res.kvs.map((kv) => toKeyValue(runtime.keys, kv));
      let leader = leaderOf(candidates(), this.#terms.space);
      if (leader === undefined && res.more) {
        res = await read(0);
        leader = leaderOf(candidates(), this.#terms.space);
      }
      return leader;
    } catch (err) {
      throw toConcordError(err, 'election.leader');
    }
  }
}

/** @internal Creates an Election (`concord.election(name, options)`); validates both arguments. */
export function createElection(runtime: Runtime, name: string, options?: ElectionOptions): Election {
  return construct(runtime, name, options);
}
