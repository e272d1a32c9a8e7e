import type { Etcd3, IDuplexStream, IStatusResponse, IWatchRequest } from 'etcd3';
import { openBidiStream } from './bidi-stream.js';
import { callHost, type PoolHost } from './pool.js';
import { decodeWatchResponse, type WatchResponse } from './proto/watch.js';
import { encodeWatchRequest } from './proto/watch-request.js';

/** The etcd member a watch stream was opened on, as its maintenance Status reports it. */
export interface WatchServer {
  /** The member's id (decimal), as in the `header.member_id` of every response it sends. */
  readonly memberId: string;
  /** The member's etcd version, e.g. `3.5.16`. */
  readonly version: string;
}

/**
 * etcd's bidirectional Watch RPC: etcd3's request type, responses decoded by
 * {@link decodeWatchResponse}, plus what the member it was opened on reports about itself
 * (undefined when that could not be asked: the stream then works as on any version).
 */
export type WatchStream = IDuplexStream<IWatchRequest, WatchResponse> & {
  readonly server: Promise<WatchServer | undefined>;
};

const STATUS_DEADLINE_MS = 5_000;

/**
 * Opens etcd's raw Watch RPC through etcd3's connection pool ({@link openBidiStream}: same hosts,
 * credentials and failure handling as etcd3's own `WatchClient`, and on the http2 transport the
 * connection of the member's unary calls), with etcd's "require leader" flag set. With it, a member
 * that loses its raft leader (for example a follower cut off from the majority) cancels the
 * stream instead of keeping it open while it can deliver nothing, so the hub moves to a member
 * that can. Requests are encoded by {@link encodeWatchRequest} and responses decoded by
 * {@link decodeWatchResponse}, not by etcd3's generic protobuf code (the same fields, several
 * times faster). Its `server` asks the same endpoint, once, for the
 * member's id and version (what the member serving a watch stream does with progress requests
 * depends on its version).
 */
export async function openWatchStream(etcd: Etcd3): Promise<WatchStream> {
  const { stream, host, metadata } = await openBidiStream<IWatchRequest, WatchResponse>(
    etcd,
    'Watch',
    'Watch',
    { hasleader: 'true' },
    { encode: encodeWatchRequest, decode: decodeWatchResponse },
  );
  return Object.assign(stream, { server: serverOf(host, metadata) });
}

/** Asks `host` (not any host of the pool) for its member id and version; undefined on failure. */
function serverOf(host: PoolHost, metadata: unknown): Promise<WatchServer | undefined> {
  return callHost<IStatusResponse>(host, 'Maintenance', 'status', {}, metadata, STATUS_DEADLINE_MS).then(
    (res) => ({ memberId: String(res.header.member_id), version: res.version }),
    () => undefined,
  );
}

/**
 * Makes etcd3 fetch a new auth token for its next call or stream (a no-op without auth). etcd3
 * renews its cached token only when a unary call fails with it; a raw watch stream opened with a
 * token the server no longer knows would otherwise carry it forever.
 */
export function forgetAuthToken(etcd: Etcd3): void {
  (
    etcd as unknown as { pool: { authenticator: { invalidateMetadata(): void } } }
  ).pool.authenticator.invalidateMetadata();
}
