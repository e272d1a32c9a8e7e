import { defer, distinctUntilChanged, map, type Observable } from 'rxjs';
import { assertFits } from '../core/keys.js';
import type { Runtime } from '../core/runtime.js';
import { checkOptions } from '../core/validate.js';
import { LeadershipLostError } from '../errors.js';
import { toConcordError } from '../etcd/translate.js';
import { Contender, type Entry } from '../queue/contender.js';
import { holdWhile } from '../queue/hold-while.js';
import { onePerLease } from '../queue/one-per-lease.js';
import type { QueueTerms } from '../queue/terms.js';
import { newestAhead } from '../queue/turn.js';
import { checkSessionChoice } from '../session/session.js';
import { toKeyValue } from '../watch/decode.js';
import { hubOf } from '../watch/hub.js';
import {
  checkLayout,
  checkValue,
  type ElectionLayout,
  electionLayout,
  leaderOf,
  sameLeader,
} from './layout.js';
import { Leadership } from './leadership.js';
import type { ElectionKeyLayout, ElectionOptions, LeaderInfo } from './types.js';

/**
 * A leader election among every campaign for the same name in the same namespace, in any
 * process. Fair: candidates are elected in the order they campaigned (by their key's create
 * revision), and each waits only on the candidate right before it. Keys live under
 * `election/<name>/`, or with `layout: 'go'` under `<name>/` as etcd's Go recipes put them (see
 * {@link ElectionKeyLayout}).
 */
export class Election {
  /** The election's name, as given. */
  readonly name: string;
  /** Where its candidates' keys live: `options.layout`, default `'etcd3'`. */
  readonly layout: ElectionKeyLayout;
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

  /** @internal Use `concord.election(name, options)`. */
  constructor(runtime: Runtime, name: string, options: ElectionOptions = {}) {
    checkOptions('options', options, ['session', 'ttl', 'layout']);
    checkLayout(name, options.layout);
    const layout = electionLayout(name, options.layout);
    assertFits('name', runtime.keys.key(layout.naming.longest(layout.prefix)));
    checkSessionChoice(options);
    runtime.assertOpen('election');
    this.name = name;
    this.layout = options.layout ?? 'etcd3';
    this.#runtime = runtime;
    this.#options = options;
    this.#layout = layout;
    this.#terms = {
      what: `election "${name}"`,
      lost: (message, cause) => new LeadershipLostError(message, cause === undefined ? undefined : { cause }),
      released: () => new LeadershipLostError('the leadership was resigned'),
      // A leader that cannot see its key any more cannot know it still leads.
      unwatchedIsLoss: true,
    };
    this.leader$ = defer(() => hubOf(runtime).view({ prefix: layout.prefix })).pipe(
      map((view) => leaderOf(view.entries.values())),
      distinctUntilChanged(sameLeader),
    );
  }

  /**
   * Runs for leader with `value` (a string observers see in `leader$`). Cold: subscribing puts
   * the candidate key and queues; the Observable emits one {@link Leadership} once elected.
   * Unsubscribing withdraws the candidacy, or resigns once elected; `leadership.resign()` and
   * `concord.close()` also resign and complete it. It errors with `LeadershipLostError` when
   * the session is lost or the key is deleted, while waiting or while leading; a candidate
   * whose key expired while it waited never emits. Keep the subscription open while leading:
   * operators that unsubscribe after the first value (`take(1)`, `first()`, `firstValueFrom`)
   * resign at once. With `layout: 'go'` and a shared `session`, a second campaign of the same
   * session while one is open errors with `InvalidArgumentError` (one key per lease), and one
   * started right after another ended first waits for that one's key to go.
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
      return new Leadership(contender, await contender.waitTurn(newestAhead(prefix)), value);
    };
    const hold = (finished?: (settled: Promise<void>) => void) =>
      holdWhile(runtime, win, { end: (leadership) => leadership.resign(), completeOnEnd: true, finished });
    const { session } = this.#options;
    if (!naming.perLease || session === undefined) return hold();
    return onePerLease(session, naming.key(prefix, session.leaseId), this.#terms.what, hold);
  }

  /** The current leader, read linearizably, or undefined when no candidate holds the election. */
  async leader(): Promise<LeaderInfo | undefined> {
    const runtime = this.#runtime;
    runtime.assertOpen('election.leader');
    const range = runtime.keys.prefixRange(this.#layout.prefix);
    try {
      const res = await runtime.etcd.kv.range({
        key: range.key,
        range_end: range.rangeEnd,
        sort_target: 'Create',
        sort_order: 'Ascend',
        limit: 1,
      });
      const first = res.kvs[0];
      return first && leaderOf([toKeyValue(runtime.keys, first)]);
    } catch (err) {
      throw toConcordError(err, 'election.leader');
    }
  }
}
