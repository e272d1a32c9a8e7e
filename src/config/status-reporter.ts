import type { Subscription } from 'rxjs';
import { sleep } from '../core/abort.js';
import { errorText } from '../core/error-text.js';
import { assertFits } from '../core/keys.js';
import type { Runtime } from '../core/runtime.js';
import { checkSegment } from '../core/validate.js';
import { InvalidArgumentError, SessionLostError } from '../errors.js';
import { toConcordError } from '../etcd/translate.js';
import { leaseCompare } from '../etcd/txn.js';
import { createSession, leaseGone, type Session } from '../session/session.js';
import { checkSessionChoice } from '../session/session-choice.js';
import { encodeReport, type InstanceReport, statusArea } from './status.js';

/** Where the reporter's lease comes from: the caller's session, or a TTL for one of its own (default 10 s). */
export interface ReporterLease {
  session?: Session;
  ttl?: number;
}

/**
 * Keeps one config instance's status key in step with what the instance last applied or
 * rejected: a put under a session lease (so the key goes when the process dies), latest report
 * wins. At most one etcd call is in flight: reports that arrive meanwhile collapse into the
 * newest, so a burst of revisions costs a few writes, not one each. Transient failures are retried
 * with the Concord's reconnect backoff; a lost session is replaced by one of its own (same TTL)
 * and the latest report written again under it.
 */
export class StatusReporter {
  readonly #runtime: Runtime;
  /** The status key (the Concord namespace not included). */
  readonly #key: string;
  readonly #lease: ReporterLease;
  #session: Session | undefined;
  #owned = false;
  #lost: Subscription | undefined;
  /** What the key should hold; undefined: no key (not watching, or closed). */
  #wanted: InstanceReport | undefined;
  /** What the key holds as far as this reporter knows. */
  #written: InstanceReport | undefined;
  #running: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor(runtime: Runtime, key: string, lease: ReporterLease) {
    this.#runtime = runtime;
    this.#key = key;
    this.#lease = lease;
  }

  /** Makes `report` the instance's status (written soon; a newer report replaces it unwritten). */
  report(report: InstanceReport): void {
    if (this.#closing) return;
    this.#wanted = report;
    this.#kick();
  }

  /**
   * Removes the status key (the instance stopped following the config): resolves once it is
   * deleted, or at once when there is none. The session is kept for the next report.
   */
  withdraw(): Promise<void> {
    this.#wanted = undefined;
    return this.#kick();
  }

  /** Removes the status key (best effort) and closes the session if the reporter created it. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await this.withdraw();
    this.#lost?.unsubscribe();
    if (this.#owned) await this.#session?.close().catch(() => undefined);
  }

  #kick(): Promise<void> {
    this.#running ??= this.#reconcile().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #reconcile(): Promise<void> {
    let backoff = this.#runtime.reconnectBackoff.next(undefined);
    while (this.#wanted !== this.#written && !this.#runtime.closed) {
      try {
        if (this.#wanted) await this.#put(this.#wanted);
        else await this.#delete();
        backoff = this.#runtime.reconnectBackoff.next(undefined);
      } catch (err) {
        // Closing: the session's revocation removes the key anyway.
        if (this.#closing) return;
        const session = this.#session;
        if (session && toConcordError(err, '') instanceof SessionLostError) leaseGone(session);
        this.#runtime.log.warn('config: writing the instance status failed; retrying', {
          key: this.#key,
          error: errorText(err),
          retryInMs: backoff.duration,
        });
        await sleep(backoff.duration, this.#runtime.signal).catch(() => undefined);
        backoff = backoff.next(undefined);
      }
    }
  }

  async #put(report: InstanceReport): Promise<void> {
    const session = await this.#liveSession();
    await this.#runtime.etcd.kv.put({
      key: this.#runtime.keys.key(this.#key),
      value: Buffer.from(encodeReport(report), 'utf8'),
      lease: session.leaseId,
    });
    // A session lost during the put took the key with it: the loop writes again.
    if (session === this.#session && session.isAlive) this.#written = report;
  }

  async #delete(): Promise<void> {
    const session = this.#session;
    // Only our own key: guarded by our lease, so a newer process with the same instance id keeps its status.
    if (session?.isAlive) {
      await this.#runtime.etcd.kv.txn({
        compare: [leaseCompare(this.#runtime, this.#key, session.leaseId)],
        success: [{ request_delete_range: { key: this.#runtime.keys.key(this.#key) } }],
        failure: [],
      });
    }
    this.#written = undefined;
  }

  /**
   * The session to write under: the current one while it lives; else the caller's session the
   * first time (when it lives), or a new one of the reporter's own with the same TTL.
   */
  async #liveSession(): Promise<Session> {
    const current = this.#session;
    if (current?.isAlive) return current;
    const given = this.#lease.session;
    const first = current === undefined && given?.isAlive;
    const next = first ? given : await createSession(this.#runtime, { ttl: given?.ttl ?? this.#lease.ttl });
    this.#lost?.unsubscribe();
    if (this.#owned) void current?.close().catch(() => undefined);
    this.#session = next;
    this.#owned = !first;
    // The lease took the key with it: write the latest report again under a new one. A session
    // the caller closes is handled alike (the instance must keep reporting until it stops).
    this.#lost = next.state$.subscribe((state) => {
      if (state.status !== 'lost' && state.status !== 'closed') return;
      this.#written = undefined;
      if (!this.#closing && this.#wanted) void this.#kick();
    });
    return next;
  }
}

/**
 * @internal The reporter of `concord.config(prefix, options)` when `options.instance` is given
 * (else undefined). Checks `instance` (one key segment), `session` and `ttl` (only with an
 * instance, not both), and that the prefix has an outside for the status area.
 */
export function reporterFor(runtime: Runtime, prefix: string, options: unknown): StatusReporter | undefined {
  const { instance, session, ttl } = (options ?? {}) as {
    instance?: unknown;
    session?: unknown;
    ttl?: unknown;
  };
  if (instance === undefined) {
    if (session !== undefined)
      throw new InvalidArgumentError('options.session', 'is only allowed with options.instance');
    if (ttl !== undefined)
      throw new InvalidArgumentError('options.ttl', 'is only allowed with options.instance');
    return undefined;
  }
  checkSegment('options.instance', instance);
  checkSessionChoice({ session, ttl });
  if (prefix === '') {
    throw new InvalidArgumentError(
      'options.instance',
      'cannot be used with the empty prefix: every key is config, so there is no outside to report status in',
    );
  }
  const key = statusArea(prefix) + instance;
  assertFits('options.instance', runtime.keys.key(key));
  return new StatusReporter(runtime, key, {
    session: session as Session | undefined,
    ttl: ttl as number | undefined,
  });
}
