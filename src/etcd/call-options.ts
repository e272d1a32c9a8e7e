import type { CallContext, ICallable } from 'etcd3';

/** What etcd3's connection pool exposes to resolve the options (deadline) of one call. */
export interface CallOptionsSource {
  readonly callOptionsFactory: ICallable<unknown>['callOptionsFactory'];
}

/**
 * The gRPC call options etcd3 would give the call `context`, for calls made on the pool's clients
 * directly. Resolve them per attempt: they carry the call's deadline.
 */
export function callOptions(pool: CallOptionsSource, context: CallContext): object {
  const factory = pool.callOptionsFactory;
  return typeof factory === 'function' ? factory(context) : (factory ?? {});
}
