import { defer, Observable, type Subscriber, type Subscription } from 'rxjs';
import type { Runtime } from '../core/runtime.js';
import { ClosedError, ConfigValidationError } from '../errors.js';
import { hubOf } from '../watch/hub.js';
import { type CachedView, mapFold } from '../watch/view-cache.js';
import { deepEqual, deepFreeze } from './data.js';
import type { ConfigRules } from './evaluate.js';
import { Judge, type Judgement } from './judge.js';
import { CONFIG_PROJECTION, type ConfigKey } from './projection.js';
import type { StatusReporter } from './status-reporter.js';
import type { ConfigError } from './types.js';
import { Waiters } from './waiters.js';

/**
 * The watching side of one LiveConfig: holds the prefix's shared view while anything needs it
 * (subscribers of `value$`/`errors$`, plus one hold for `load()`), turns each revision's
 * judgement into emissions, waiter outcomes and status reports, and forgets everything when
 * watching stops. `LiveConfig` is the public face over it.
 */
export class ConfigWatch<T> {
  readonly value$: Observable<T>;
  readonly errors$: Observable<ConfigError>;
  readonly #runtime: Runtime;
  readonly #prefix: string;
  readonly #rules: ConfigRules;
  readonly #reporter: StatusReporter | undefined;
  readonly #view$: Observable<CachedView<ConfigKey>>;
  readonly #values = new Set<Subscriber<T>>();
  readonly #errorSubs = new Set<Subscriber<ConfigError>>();
  readonly #waiters = new Waiters<T>();
  /** Subscribers of value$ and errors$, plus one for load(). */
  #holders = 0;
  #held = false;
  #upstream: Subscription | undefined;
  /** Bumped whenever watching stops, so a slow (async) validation of an old view is dropped. */
  #generation = 0;
  /** The newest View received, valid or not. */
  #latest: CachedView<ConfigKey> | undefined;
  /** The valid value and the newest revision judged valid with it. */
  #good: { value: T; revision: bigint } | undefined;
  /** The latest evaluation failed: set until a valid one. */
  #failure: ConfigValidationError | undefined;
  /** The watch itself failed (e.g. permission denied). */
  #broken: unknown;
  #closed = false;

  constructor(runtime: Runtime, prefix: string, rules: ConfigRules, reporter: StatusReporter | undefined) {
    this.#runtime = runtime;
    this.#prefix = prefix;
    this.#rules = rules;
    this.#reporter = reporter;
    this.#view$ = defer(() => hubOf(runtime).folded(prefix, mapFold(CONFIG_PROJECTION)));
    this.value$ = new Observable<T>((subscriber) => this.#attach(this.#values, subscriber, true));
    this.errors$ = new Observable<ConfigError>((subscriber) =>
      this.#attach(this.#errorSubs, subscriber, false),
    );
  }

  get good(): { readonly value: T; readonly revision: bigint } | undefined {
    return this.#good;
  }

  get failure(): ConfigValidationError | undefined {
    return this.#failure;
  }

  get latest(): CachedView<ConfigKey> | undefined {
    return this.#latest;
  }

  get watching(): boolean {
    return this.#holders > 0;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * `load()`: keeps watching until closed, then settles with the first valid value (or throws
   * the failure known already); `signal` stops the wait, not the watch.
   */
  load(signal: AbortSignal | undefined): Promise<T> {
    if (!this.#held) {
      this.#held = true;
      this.#acquire();
    }
    if (this.#good) return Promise.resolve(this.#good.value);
    if (this.#failure) return Promise.reject(this.#failure);
    if (!this.#held) return Promise.reject(this.#broken);
    return this.#waiters.wait(signal);
  }

  /** Completes every subscriber, rejects pending loads with `ClosedError` and stops watching. Idempotent. */
  shutdown(): void {
    if (this.#closed) return;
    this.#closed = true;
    const { values, errors } = this.#detachAll();
    for (const subscriber of values) subscriber.complete();
    for (const subscriber of errors) subscriber.complete();
    this.#waiters.rejectAll(new ClosedError(`config '${this.#prefix}' was closed`));
  }

  #attach<V>(set: Set<Subscriber<V>>, subscriber: Subscriber<V>, replay: boolean): () => void {
    if (this.#closed) {
      subscriber.complete();
      return () => undefined;
    }
    set.add(subscriber);
    if (replay && this.#good) (subscriber as Subscriber<unknown>).next(this.#good.value);
    this.#acquire();
    return () => {
      set.delete(subscriber);
      this.#release();
    };
  }

  #acquire(): void {
    this.#holders++;
    if (this.#holders > 1) return;
    this.#broken = undefined;
    const generation = this.#generation;
    const judge = new Judge(this.#prefix, this.#rules, (judgement, revision) =>
      this.#publish(judgement, revision, generation),
    );
    this.#upstream = this.#view$.subscribe({
      next: (view) => {
        this.#latest = view;
        judge.judge(view);
      },
      error: (err) => this.#onBroken(err, generation),
      complete: () => {
        if (generation === this.#generation) this.shutdown();
      },
    });
  }

  #release(): void {
    this.#holders--;
    if (this.#holders > 0) return;
    this.#generation++;
    this.#upstream?.unsubscribe();
    this.#upstream = undefined;
    this.#latest = undefined;
    this.#good = undefined;
    this.#failure = undefined;
    // Not watching: the instance no longer applies anything, so it stops claiming to.
    void this.#reporter?.withdraw();
  }

  #dropHold(): void {
    if (!this.#held) return;
    this.#held = false;
    this.#release();
  }

  #publish(judgement: Judgement, revision: bigint, generation: number): void {
    if (generation !== this.#generation) return;
    if (!judgement.ok) {
      this.#rejected(judgement, revision);
      return;
    }
    this.#failure = undefined;
    const good = this.#good;
    if ('same' in judgement) {
      // `same` only follows a valid revision of the same watch, so `good` is set.
      if (good) good.revision = revision;
      this.#applied(revision, false);
      return;
    }
    if (good && !('changed' in judgement) && deepEqual(good.value, judgement.value)) {
      good.revision = revision;
      this.#applied(revision, false);
      return;
    }
    const value = deepFreeze(judgement.value as T);
    this.#good = { value, revision };
    this.#waiters.resolveAll(value);
    for (const subscriber of [...this.#values]) subscriber.next(value);
    this.#applied(revision, true);
  }

  /**
   * The config is valid at `revision` (with a new value, already emitted, or the same one):
   * reported to the status area and as a `config.applied` event.
   */
  #applied(revision: bigint, changed: boolean): void {
    this.#reporter?.report({ status: 'applied', revision, at: new Date().toISOString() });
    const { events } = this.#runtime;
    if (events.observed) events.emit({ type: 'config.applied', prefix: this.#prefix, revision, changed });
  }

  /**
   * The config is invalid at `revision`: reported on `errors$`, to the status area and as a
   * `config.rejected` event (without the issues' texts, which may quote values), the last valid
   * value kept.
   */
  #rejected(outcome: { path: string | undefined; issues: string[] }, revision: bigint): void {
    const where = outcome.path === undefined ? '' : ` (key '${outcome.path}')`;
    const error = new ConfigValidationError(
      `config '${this.#prefix}' at revision ${revision} is invalid${where}: ${outcome.issues.join('; ')}`,
      { key: outcome.path, revision, issues: outcome.issues },
    );
    this.#failure = error;
    this.#runtime.log.warn('config: rejected an invalid revision, keeping the last valid value', {
      prefix: this.#prefix,
      key: outcome.path,
      revision: revision.toString(),
      issues: outcome.issues,
    });
    this.#reporter?.report({
      status: 'rejected',
      revision,
      issues: outcome.issues,
      ...(outcome.path === undefined ? {} : { key: outcome.path }),
      ...(this.#good ? { applied: this.#good.revision } : {}),
      at: new Date().toISOString(),
    });
    const { events } = this.#runtime;
    if (events.observed) {
      const key = outcome.path === undefined ? {} : { key: outcome.path };
      const issues = outcome.issues.length;
      events.emit({ type: 'config.rejected', prefix: this.#prefix, revision, ...key, issues });
    }
    if (!this.#good) this.#waiters.rejectAll(error);
    for (const subscriber of [...this.#errorSubs]) subscriber.next(error);
  }

  // The hub gave up on the prefix (e.g. permission denied): nothing more can be known.
  #onBroken(err: unknown, generation: number): void {
    if (generation !== this.#generation) return;
    this.#broken = err;
    const { values, errors } = this.#detachAll();
    // Each subscriber's teardown releases its hold; the watch stops with the last one.
    for (const subscriber of values) subscriber.error(err);
    for (const subscriber of errors) subscriber.error(err);
    this.#waiters.rejectAll(err);
  }

  /** Forgets every subscriber (handing them back to be ended) and releases the watch. */
  #detachAll(): { values: Subscriber<T>[]; errors: Subscriber<ConfigError>[] } {
    const detached = { values: [...this.#values], errors: [...this.#errorSubs] };
    this.#values.clear();
    this.#errorSubs.clear();
    this.#dropHold();
    return detached;
  }
}
