import type { Etcd3, ICallable, IDuplexStream, IWatchRequest, IWatchResponse } from 'etcd3';

/** etcd's bidirectional Watch RPC as etcd3 types it. */
export type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;

interface WatchServiceClient {
  watch(metadata: unknown, options: object): WatchStream;
}

/**
 * Opens etcd's raw Watch RPC through etcd3's connection pool (same hosts, credentials and
 * failure handling as etcd3's own `WatchClient`), with etcd's "require leader" flag set. With
 * it, a member that loses its raft leader (for example a follower cut off from the majority)
 * cancels the stream instead of keeping it open while it can deliver nothing, so the hub moves
 * to a member that can.
 */
export function openWatchStream(etcd: Etcd3): Promise<WatchStream> {
  // The pool is etcd3's transport; WatchClient.watch offers no way to add request metadata.
  const pool = (etcd as unknown as { pool: ICallable<unknown> }).pool;
  return pool.withConnection('Watch', ({ resource, client, metadata }) => {
    const md = metadata.clone();
    md.set('hasleader', 'true');
    const stream = (client as unknown as WatchServiceClient).watch(md, {});
    // As etcd3's WatchClient does: a failure of a stream we still write to is a host failure.
    stream.on('error', (err: Error) => {
      if ((stream as unknown as { writable: boolean }).writable) pool.markFailed(resource, err);
    });
    return stream;
  });
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
