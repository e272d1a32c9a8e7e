import { castGrpcError, type Etcd3, EtcdInvalidAuthTokenError } from 'etcd3';
import { type CallOptionsSource, callOptions } from './call-options.js';

/** The parts of etcd3's connection pool used here. */
interface Pool extends CallOptionsSource {
  /** `policies.global` of the Concord options: wraps every unary call. */
  readonly globalPolicy: { execute<R>(fn: () => Promise<R>): Promise<R> };
  readonly authenticator: { invalidateMetadata(): void };
  withConnection<R>(
    service: string,
    fn: (args: { client: unknown; metadata: unknown }) => Promise<R>,
  ): Promise<R>;
}

/** A gRPC client of one etcd service, as etcd3's pool hands it out. */
interface ServiceClient {
  constructor: { service: Record<string, { path: string }> };
  makeUnaryRequest<Res>(
    path: string,
    serialize: (request: Buffer) => Buffer,
    deserialize: (bytes: Buffer) => Res,
    request: Buffer,
    metadata: unknown,
    options: object,
    callback: (err: Error | null, res?: Res) => void,
  ): void;
}

/** The etcd RPCs concord sends as bytes it encoded itself (see `proto/`). */
export type RawMethod =
  | { service: 'KV'; method: 'Range' | 'Txn' }
  | { service: 'Lease'; method: 'LeaseRevoke' };

const identity = (bytes: Buffer) => bytes;

/**
 * One unary RPC as etcd3 makes it (through its connection pool and the global policy: same hosts,
 * credentials, deadlines, retries and failure accounting), with `message` already encoded and the
 * answer decoded by `decode`. etcd3's own path converts a request object to protobufjs's and
 * encodes it, and decodes the answer into an object with every int64 as a decimal string: on a
 * handoff's re-check that was 0.25-0.35 ms of the successor's time (measured after idle gaps of
 * 25 and 250 ms, interleaved in one process), most of the call's JavaScript. Errors come out as
 * etcd3's typed errors; a call refused for an expired auth token is sent once more with a fresh
 * one, as etcd3 does.
 */
export async function rawCall<T>(
  etcd: Etcd3,
  rpc: RawMethod,
  message: Buffer,
  decode: (bytes: Buffer) => T,
): Promise<T> {
  const pool = (etcd as unknown as { pool: Pool }).pool;
  const attempt = () =>
    pool.globalPolicy.execute(() =>
      pool.withConnection(rpc.service, ({ client, metadata }) =>
        send(pool, client as ServiceClient, metadata, rpc, message, decode),
      ),
    );
  try {
    return await attempt();
  } catch (err) {
    if (!(err instanceof EtcdInvalidAuthTokenError)) throw err;
    pool.authenticator.invalidateMetadata();
    return attempt();
  }
}

function send<T>(
  pool: Pool,
  client: ServiceClient,
  metadata: unknown,
  { service, method }: RawMethod,
  message: Buffer,
  decode: (bytes: Buffer) => T,
): Promise<T> {
  const name = method[0]!.toLowerCase() + method.slice(1);
  const options = callOptions(pool, { service, method: name, isStream: false });
  const { path } = client.constructor.service[method]!;
  return new Promise<T>((resolve, reject) => {
    client.makeUnaryRequest(path, identity, decode, message, metadata, options, (err, res) => {
      if (err) reject(castGrpcError(err));
      else resolve(res!);
    });
  });
}
