import {
  castGrpcError,
  type Etcd3,
  EtcdInvalidAuthTokenError,
  type IKeyValue,
  type IRangeRequest,
} from 'etcd3';
import { type CallOptionsSource, callOptions } from './call-options.js';
import { decodeRangeResponse, type RangeKv, type RangePage } from './range-decode.js';

/** The parts of etcd3's connection pool used here (see txn-once.ts). */
interface Pool extends CallOptionsSource {
  /** `policies.global` of the Concord options: wraps every unary call. */
  readonly globalPolicy: { execute<R>(fn: () => Promise<R>): Promise<R> };
  withConnection<R>(
    service: 'KV',
    fn: (args: { client: unknown; metadata: unknown }) => Promise<R>,
  ): Promise<R>;
}

/** A grpc-js client of etcd's KV service, as etcd3's pool hands it out. */
interface KvClient {
  constructor: { service: { Range: { path: string; requestSerialize(request: IRangeRequest): Buffer } } };
  makeUnaryRequest<Res>(
    path: string,
    serialize: (request: IRangeRequest) => Buffer,
    deserialize: (bytes: Buffer) => Res,
    request: IRangeRequest,
    metadata: unknown,
    options: object,
    callback: (err: Error | null, res?: Res) => void,
  ): void;
}

/**
 * One Range RPC as `etcd.kv.range` makes it (through etcd3's connection pool and the global
 * policy: same hosts, credentials, deadlines, retries and failure accounting), its answer decoded
 * by {@link decodeRangeResponse} instead of etcd3's generic decoder. Errors come out as etcd3's
 * typed errors. A request refused for an expired auth token goes through etcd3's own path, which
 * renews the token.
 */
export async function rangePage(etcd: Etcd3, request: IRangeRequest): Promise<RangePage> {
  const pool = (etcd as unknown as { pool: Pool }).pool;
  try {
    return await pool.globalPolicy.execute(() =>
      pool.withConnection('KV', ({ client, metadata }) => send(pool, client as KvClient, metadata, request)),
    );
  } catch (err) {
    if (!(err instanceof EtcdInvalidAuthTokenError)) throw err;
    const res = await etcd.kv.range(request);
    return { revision: BigInt(res.header.revision), kvs: res.kvs.map(fromEtcd3), more: res.more };
  }
}

function send(pool: Pool, client: KvClient, metadata: unknown, request: IRangeRequest): Promise<RangePage> {
  const options = callOptions(pool, { service: 'KV', method: 'range', params: request, isStream: false });
  const { path, requestSerialize } = client.constructor.service.Range;
  return new Promise<RangePage>((resolve, reject) => {
    client.makeUnaryRequest(
      path,
      requestSerialize,
      decodeRangeResponse,
      request,
      metadata,
      options,
      (err, page) => {
        if (err) reject(castGrpcError(err));
        else resolve(page!);
      },
    );
  });
}

function fromEtcd3(kv: IKeyValue): RangeKv {
  return {
    key: kv.key,
    value: kv.value,
    modRevision: BigInt(kv.mod_revision),
    createRevision: BigInt(kv.create_revision),
    version: BigInt(kv.version),
    lease: String(kv.lease),
  };
}
