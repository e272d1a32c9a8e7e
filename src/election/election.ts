import { defer, distinctUntilChanged, map, type Observable, tap } from 'rxjs';
import { assertFits } from '../core/keys.js';
import type { Runtime } from '../core/runtime.js';
import { checkOptions } from '../core/validate.js';
import { InvalidArgumentError, LeadershipLostError } from '../errors.js';
import { toConcordError } from '../etcd/translate.js';
import { Contender, type Entry } from '../queue/contender.js';
import { holdWhile } from '../queue/hold-while.js';
import { queueSpace } from '../queue/keys.js';
import { onePerLease } from '../queue/one-per-lease.js';
import { scopeSettings, whileHolding } from '../queue/scoped-work.js';
import type { QueueTerms } from '../queue/terms.js';
import { newestAhead } from '../queue/turn.js';
import type { ScopedWork } from '../queue/work-term.js';
import { DEFAULT_TTL } from '../session/session.js';
import { checkSessionChoice } from '../session/session-choice.js';
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
import { createLeadership, type Leadership } from './leadership.js';
import type { ElectionKeyLayout, ElectionOptions, LeaderInfo, WhileLeaderOptions } from './types.js';

/** Set by Election's static block: the one way to construct an Election. */
let construct: (runtime: Runtime, name: string, options: ElectionOptions | undefined) => Election;

/** Keys `leader()` reads before reading the whole prefix (only when none of them is a candidate). */
const LEADER_PAGE = 16;

/**
 * A leader election among every campaign for the same name in the same namespace, in any
 * process. Fair: candidates are elected in the order they campaigned (by their key's create
 * revision), and each waits only on the candidate right before it. Keys live under
 * `election/<name>/`, or with `layout: 'go'` under `<name>/` as etcd's Go recipes put them (see
 * {@link ElectionKeyLayout}): `leadership.txn()` refuses ops there, and only queue entries count as
 * candidates (a key on a lease named by that lease's id, as concord, etcd3 npm and etcd's Go
 * client write them); any other key there is ignored, never taken for the leader.
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
  /** The leader `leader.changed` last reported (null: none yet), so several subscribers report a change once. */
  #reported: LeaderInfo | undefined | null = null;

  static {
    construct = (runtime, name, options) => new Election(runtime, name, options);
  }

  private constructor(runtime: Runtime, name: string, options: ElectionOptions = {}) {
    checkOptions('options', options, ['session', 'ttl', 'layout']);
    checkLayout(name, options.layout);
    const layout = electionLayout(name, options.layout);
    const space = queueSpace(layout.prefix);
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
      subject: { kind: 'election', name },
      lost: (message, cause) => new LeadershipLostError(message, cause === undefined ? undefined : { cause }),
      released: () => new LeadershipLostError('the leadership was resigned'),
      // A leader that cannot see its key any more cannot know it still leads.
      unwatchedIsLoss: true,
      space,
    };
    this.leader$ = defer(() => hubOf(runtime).view({ prefix: layout.prefix })).pipe(
      map((view) => leaderOf(view.entries.values(), space)),
      distinctUntilChanged(sameLeader),
      tap((leader) => this.#observed(leader)),
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
   * resign at once. With `layout: 'go'` and a shared `session`, a second campaign of the same
   * session while one is open errors with `InvalidArgumentError` (one key per lease), and one
   * started right after another ended first waits for that one's key to go.
   */
  campaign(value: string): Observable<Leadership> {
    this.#runtime.assertOpen('election.campaign');
    const win = this.#winner(value);
    const hold = (finished?: (settled: Promise<void>) => void) =>
      holdWhile(this.#runtime, win, {
        end: (leadership) => leadership.resign(),
        completeOnEnd: true,
        finished,
      });
    const { session } = this.#options;
    const { prefix, naming } = this.#layout;
    if (!naming.perLease || session === undefined) return hold();
    return onePerLease(session, naming.key(prefix, session.leaseId), this.#terms.what, hold);
  }

  /**
   * Runs `work(leadership, signal)` each time this candidate is elected, and resigns only once the
   * work has stopped. Cold: subscribing campaigns with `value`; once elected, `work` runs (an async
   * function, or a function returning an Observable, which is subscribed), and the returned
   * Observable emits what it yields.
   * - The work returns (the promise resolves, the Observable completes): the leadership is
   *   resigned, then the Observable completes (with `requeue`: campaigns again instead).
   * - The work fails: resign, then the Observable errors with the work's error.
   * - Loss: when fewer than `marginMs` of the lease budget are left without a renewing ack (or the
   *   leadership is lost outright, whichever is first), `signal` aborts with a
   *   `LeadershipLostError`, while etcd still has the key, i.e. before anyone else can be elected.
   *   The key is given up once the work has returned, or once the lease is gone anyway, or after
   *   `drainTimeoutMs`; then the Observable errors with that error (with `requeue`: campaigns again).
   * - Unsubscribe (or `concord.close()`): `signal` aborts with a `DrainError`; the work gets up to
   *   `drainTimeoutMs` to return (less if the lease runs under the margin meanwhile), and only then
   *   is the leadership resigned, so the next leader never runs alongside it. `concord.close()`
   *   waits for the drain and completes the Observable.
   * Once the signal has aborted, the work rejecting (e.g. with the signal's reason) counts as
   * having stopped, not as a failure. Giving the key up while the work still runs is logged as a
   * `DrainTimeoutError` warning.
   * Observable work is unsubscribed only once the key is gone: make it complete on the signal
   * (e.g. `takeUntil(fromEvent(signal, 'abort'))` before the step that must finish). Fence what the
   * work writes with `leadership.txn()`: a blocked event loop can outlast any margin. Throws
   * `InvalidArgumentError` for a bad value, a `work` that is not a function or bad options (and, with `layout: 'go'`, for a shared `options.session`: one key per lease), before
   * anything is written.
   */
  whileLeader<T>(
    value: string,
    work: ScopedWork<Leadership, T>,
    options?: WhileLeaderOptions,
  ): Observable<T> {
    this.#runtime.assertOpen('election.whileLeader');
    if (this.#layout.naming.perLease && this.#options.session !== undefined) {
      // One key per lease: overlapping terms of one session would share (and adopt) one key.
      throw new InvalidArgumentError(
        'options.session',
        "must be unset for whileLeader with layout 'go' (one key per lease: each term needs its own session)",
      );
    }
    const win = this.#winner(value);
    const ttl = this.#options.session?.ttl ?? this.#options.ttl ?? DEFAULT_TTL;
    const settings = scopeSettings(work, options, ttl, ['marginMs', 'drainTimeoutMs', 'requeue']);
    const rules = {
      what: this.#terms.what,
      subject: this.#terms.subject,
      acquire: win,
      release: (leadership: Leadership) => leadership.resign(),
      lost: (message: string) => new LeadershipLostError(message),
    };
    return whileHolding(this.#runtime, rules, work, settings);
  }

  /** A leader observed through `leader$`: a `leader.changed` event when its key or term is new (a proclaim is not a change). */
  #observed(leader: LeaderInfo | undefined): void {
    const last = this.#reported;
    if (last !== null && last?.key === leader?.key && last?.term === leader?.term) return;
    this.#reported = leader;
    const { events } = this.#runtime;
    if (events.observed) {
      events.emit({ type: 'leader.changed', name: this.name, key: leader?.key, term: leader?.term });
    }
  }

  /** Checks `value` and returns what wins one leadership with it: enter the queue, wait for the turn. */
  #winner(value: string): (signal: AbortSignal) => Promise<Leadership> {
    const runtime = this.#runtime;
    const { prefix, naming } = this.#layout;
    const entry: Entry<LeadershipLostError> = {
      terms: this.#terms,
      prefix,
      naming,
      value: checkValue(runtime.keys.key(naming.longest(prefix)), value),
      session: this.#options,
    };
    const turnOf = newestAhead(this.#terms.space);
    return async (signal) => {
      const contender = await Contender.enter(runtime, entry, signal, turnOf);
      return createLeadership(contender, await contender.waitTurn(turnOf), value);
    };
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
