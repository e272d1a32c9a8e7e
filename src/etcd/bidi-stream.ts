import type { Etcd3, ICallable, IDuplexStream } from 'etcd3';
import { H2Bidi } from './grpc/bidi.js';
import { channelOf } from './grpc/route.js';
import type { PoolHost } from './pool.js';

/** One bidi method of a grpc-js service client, as etcd3's pool hands the client out. */
interface BidiMethod<Req, Res> {
  path: string;
  requestSerialize(request: Req): Buffer;
  responseDeserialize(bytes: Buffer): Res;
}

interface ServiceClient<Req, Res> {
  constructor: { service: Record<string, BidiMethod<Req, Res>> };
  makeBidiStreamRequest(
    path: string,
    serialize: (request: Req) => Buffer,
    deserialize: (bytes: Buffer) => Res,
    metadata: unknown,
    options: object,
  ): IDuplexStream<Req, Res>;
}

/** etcd3's request metadata, as far as opening a stream needs it. */
interface Metadata {
  clone(): Metadata;
  set(key: string, value: string): void;
  toHttp2Headers(): Record<string, string | string[]>;
}

/** An open bidi stream and where it was opened. */
export interface OpenedStream<Req, Res> {
  readonly stream: IDuplexStream<Req, Res>;
  /** The pool host (member) it was opened on. */
  readonly host: PoolHost;
  /** The request metadata it was opened with (auth token included). */
  readonly metadata: unknown;
}

/**
 * Opens etcd's bidi RPC `service`/`method` through etcd3's connection pool: the same hosts,
 * credentials and failure handling as etcd3's own streams, with `headers` added to the request
 * metadata, requests encoded by `codec.encode` and responses decoded by `codec.decode` (default:
 * the service's own protobuf encoder and decoder). On a
 * host that sends its unary calls over an H2Channel the stream goes over that channel's connection
 * too, so a call made after a write on the stream reaches etcd after it, as on grpc-js's one
 * connection per member. As etcd3 does for its streams, a failure of a stream still written to
 * marks the host failed; once `end()` was called, a failure is the stream's own.
 */
export function openBidiStream<Req, Res>(
  etcd: Etcd3,
  service: 'Watch' | 'Lease',
  method: string,
  headers: Record<string, string>,
  codec: { encode?: (request: Req) => Buffer; decode?: (bytes: Buffer) => Res } = {},
): Promise<OpenedStream<Req, Res>> {
  // The pool is etcd3's transport; its stream clients offer no way to add request metadata.
  const pool = (etcd as unknown as { pool: ICallable<PoolHost> }).pool;
  return pool.withConnection(service, ({ resource, client, metadata }) => {
    const md = (metadata as unknown as Metadata).clone();
    for (const [name, value] of Object.entries(headers)) md.set(name, value);
    const grpc = client as unknown as ServiceClient<Req, Res>;
    const { path, requestSerialize, responseDeserialize } = grpc.constructor.service[method]!;
    const serialize = codec.encode ?? requestSerialize;
    const deserialize = codec.decode ?? responseDeserialize;
    const channel = channelOf(resource);
    const stream = channel
      ? new H2Bidi(channel, path, md.toHttp2Headers(), serialize, deserialize)
      : grpc.makeBidiStreamRequest(path, serialize, deserialize, md, {});
    stream.on('error', (err: Error) => {
      if ((stream as unknown as { writable: boolean }).writable) pool.markFailed(resource, err);
    });
    return { stream, host: resource, metadata };
  });
}
