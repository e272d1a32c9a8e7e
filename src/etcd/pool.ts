import type { Etcd3, IOptions } from 'etcd3';

/**
 * One host of etcd3 1.1's connection pool: the gRPC service clients of one endpoint. `host` is
 * the endpoint without its scheme. Internal to etcd3; this is the part concord relies on.
 */
export interface PoolHost {
  readonly host: string;
  getServiceClient(name: string): unknown;
  close(): void;
}

/** etcd3 1.1's connection pool, as far as concord reads or replaces it. */
export interface Pool {
  /** The hosts calls and streams are spread over; each call picks from the array current then. */
  hosts: PoolHost[];
  /** The options the pool (and its authenticator, which logs in on `hosts`) was built from. */
  readonly options: IOptions;
  readonly authenticator: { readonly options: IOptions; getMetadata(): Promise<unknown> };
}

/** The connection pool of `etcd` (etcd3 keeps it in a field its typings do not show). */
export function poolOf(etcd: Etcd3): Pool {
  return (etcd as unknown as { pool: Pool }).pool;
}

type UnaryMethod = (
  request: object,
  metadata: unknown,
  options: { deadline: number },
  callback: (err: Error | null, response: unknown) => void,
) => void;

/**
 * Calls `service.method(request)` on `host` only (unlike etcd3's calls, which may pick any host and
 * reset a host's connections when a call fails), with `metadata` (auth) and a deadline. Rejects
 * with the gRPC error, or when the host was closed meanwhile.
 */
export function callHost<T>(
  host: PoolHost,
  service: string,
  method: string,
  request: object,
  metadata: unknown,
  timeoutMs: number,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    try {
      const client = host.getServiceClient(service) as Record<string, UnaryMethod>;
      client[method]!.call(client, request, metadata, { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(err);
        else resolve(res as T);
      });
    } catch (err) {
      reject(err);
    }
  });
}
