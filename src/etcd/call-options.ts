import type { CallContext, ICallable } from 'etcd3';

/** What etcd3's connection pool exposes to resolve the options (deadline) of one call. */
export interface CallOptionsSource {
  readonly callOptionsFactory: ICallable<unknown>['callOptionsFactory'];
}

/** The call the options are for. */
export interface CallDescription {
  readonly service: CallContext['service'];
  /** etcd3's name of the method, in lower camel case (`txn`, `leaseRevoke`). */
  readonly method: string;
  readonly isStream: boolean;
  readonly params?: unknown;
}

/**
 * The gRPC call options etcd3 would give the call `context`, for calls made on the pool's clients
 * directly. Resolve them per attempt: they carry the call's deadline.
 */
export function callOptions(pool: CallOptionsSource, context: CallDescription): object {
  const factory = pool.callOptionsFactory;
  // The factory is concord's own (client-options.ts), which reads only `isStream`.
  return typeof factory === 'function' ? factory(context as CallContext) : (factory ?? {});
}
