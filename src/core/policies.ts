import type { IDefaultPolicyContext, IPolicy } from 'cockatiel';

// The policy types below are structural on purpose. cockatiel's own IPolicy and IBackoffFactory
// types differ between its majors (and its classes carry private members, which TypeScript
// compares nominally), so naming them here would tie every user to the cockatiel major concord
// was built with: an app on cockatiel 4 passing its `retry(...)` got TS2322. These interfaces
// hold only what concord and etcd3 call, which every cockatiel 3 and 4 policy and backoff has.

/**
 * A resilience policy concord runs etcd calls through: anything with cockatiel's
 * `execute(fn, signal?)`. Every cockatiel 3 or 4 policy that returns what `fn` returns fits
 * (`retry`, `circuitBreaker`, `timeout`, `bulkhead`, `noop`, and `wrap(...)` of those), and so
 * does a hand-written object. A `fallback` policy does not: it would hand its fallback value to
 * etcd3 in place of etcd's answer.
 */
export interface ConcordPolicy {
  /**
   * Runs `fn` (possibly several times, or not at all) and settles as the policy decides. `fn`
   * ignores its context, so any context the policy passes is fine.
   */
  execute<T>(
    fn: (context: { readonly signal: AbortSignal }) => PromiseLike<T> | T,
    signal?: AbortSignal,
  ): Promise<T>;
}

/**
 * A backoff schedule in cockatiel's `IBackoffFactory` shape: `ExponentialBackoff`,
 * `ConstantBackoff`, `IterableBackoff` and `DelegateBackoff` of cockatiel 3 or 4 fit.
 */
export interface ConcordBackoff {
  /** Starts the schedule (concord passes `undefined` as context) and returns its first delay. */
  next(context: unknown): ConcordBackoffDelay;
}

/** One delay of a {@link ConcordBackoff} schedule; `next()` returns the delay after it. */
export interface ConcordBackoffDelay extends ConcordBackoff {
  /** Milliseconds to wait before the next attempt. */
  readonly duration: number;
}

/** Policies concord hands to etcd3 for unary calls and uses for its own reconnects. */
export interface ConcordPolicies {
  /** Wraps every unary call. Default: retry transient failures up to 3 times with exponential backoff. */
  global?: ConcordPolicy;
  /**
   * Wraps calls to one host. Default: no policy. etcd3's default per-host circuit breaker is
   * deliberately not used: it opens when a watch is cancelled client-side and then fails every
   * call for 5 s.
   */
  host?: (host: string) => ConcordPolicy;
  /** Delay between attempts to re-open the watch and keepalive streams. Default: exponential, 50 ms to 2 s. */
  reconnect?: ConcordBackoff;
}

/**
 * The policy as etcd3's option type names it. etcd3 calls nothing but `execute(fn)` on a fault
 * handling policy (its connection pool), and recognises an open circuit by the error's
 * `isBrokenCircuitError` property rather than its class, so a policy of either cockatiel major
 * (or none) works there.
 */
export function asEtcd3Policy(policy: ConcordPolicy): IPolicy<IDefaultPolicyContext> {
  return policy as unknown as IPolicy<IDefaultPolicyContext>;
}
