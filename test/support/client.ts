import { noop } from 'cockatiel';
import { Etcd3, type IOptions } from 'etcd3';

/** Client settings a cluster passes on to every client it makes (TLS credentials, auth, call options). */
export type ClientOptions = Omit<IOptions, 'hosts'>;

/**
 * Creates a plain etcd3 client for test assertions. Differences from etcd3's defaults, and why:
 * - the per-host policy is a no-op instead of a circuit breaker, because the breaker opens when a
 *   watch is cancelled client-side and then fails every call for 5 s;
 * - gRPC reconnects after 100 ms (at most 1 s) instead of backing off towards 2 minutes, because
 *   tests kill and restart members and expect the client to find them again quickly.
 * Anything in `options` overrides these, except that `faultHandling` is merged field by field.
 */
export function createTestClient(hosts: string | string[], options: ClientOptions = {}): Etcd3 {
  return new Etcd3({
    ...options,
    hosts,
    grpcOptions: {
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
      ...options.grpcOptions,
    },
    faultHandling: { host: () => noop, ...options.faultHandling },
  });
}
