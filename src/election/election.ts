import { defer, distinctUntilChanged, map, Observable } from 'rxjs';
import { assertFits } from '../core/keys.js';
import type { Runtime } from '../core/runtime.js';
import { checkOptions, checkSegment } from '../core/validate.js';
import { toConcordError } from '../etcd/translate.js';
import { checkSessionChoice, type Session } from '../session/session.js';
import { toKeyValue } from '../watch/decode.js';
import { hubOf } from '../watch/hub.js';
import { Candidacy } from './candidacy.js';
import { checkValue, electionPrefix, type LeaderInfo, leaderOf, sameLeader } from './layout.js';
import type { Leadership } from './leadership.js';

/** Options of `concord.election()`. */
export interface ElectionOptions {
  /**
   * Campaign on this session's lease: losing the session loses the leadership. Default: every
   * campaign creates its own session (revoked when the campaign ends).
   */
  session?: Session;
  /** TTL in seconds of the sessions campaigns create (integer >= 2, default 10). Ignored with `session`. */
  ttl?: number;
}

// The longest candidate key suffix: a 64-bit lease id in hex, '-', 8 hex digits.
const LONGEST_SUFFIX = 'f'.repeat(16 + 1 + 8);

/**
 * A leader election among every campaign for the same name in the same namespace, in any
 * process. Fair: candidates are elected in the order they campaigned (by their key's create
 * revision), and each waits only on the candidate right before it. Keys live under
 * `election/<name>/`.
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

  private readonly prefix: string;

  /** @internal Use `concord.election(name, options)`. */
  constructor(
    private readonly runtime: Runtime,
    name: string,
    private readonly options: ElectionOptions = {},
  ) {
    checkSegment('name', name);
    assertFits('name', runtime.keys.key(electionPrefix(name)));
    checkOptions('options', options, ['session', 'ttl']);
    checkSessionChoice(options);
    runtime.assertOpen('election');
    this.name = name;
    this.prefix = electionPrefix(name);
    this.leader$ = defer(() => hubOf(runtime).view({ prefix: this.prefix })).pipe(
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
   * resign at once.
   */
  campaign(value: string): Observable<Leadership> {
    this.runtime.assertOpen('election.campaign');
    checkValue(this.runtime.keys.key(this.prefix + LONGEST_SUFFIX), value);
    const settings = {
      prefix: this.prefix,
      value,
      session: this.options.session,
      ttl: this.options.ttl,
    };
    return new Observable<Leadership>((subscriber) => {
      const candidacy = new Candidacy(this.runtime, settings, subscriber);
      return () => candidacy.withdraw();
    });
  }

  /** The current leader, read linearizably, or undefined when no candidate holds the election. */
  async leader(): Promise<LeaderInfo | undefined> {
    this.runtime.assertOpen('election.leader');
    const range = this.runtime.keys.prefixRange(this.prefix);
    try {
      const res = await this.runtime.etcd.kv.range({
        key: range.key,
        range_end: range.rangeEnd,
        sort_target: 'Create',
        sort_order: 'Ascend',
        limit: 1,
      });
      const first = res.kvs[0];
      return first && leaderOf([toKeyValue(this.runtime.keys, first)]);
    } catch (err) {
      throw toConcordError(err, 'election.leader');
    }
  }
}
