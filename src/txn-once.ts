import {
  castGrpcError,
  type Etcd3,
  EtcdInvalidAuthTokenError,
  type ICallable,
  type ITxnRequest,
  type ITxnResponse,
} from 'etcd3';

interface KvServiceClient {
  txn(
    request: ITxnRequest,
    metadata: unknown,
    options: object,
    callback: (err: Error | null, res: ITxnResponse) => void,
  ): void;
}

/**
 * Runs one etcd transaction exactly once. etcd3's `kv.txn` goes through its global retry
 * policy: when an attempt commits but its answer is lost, the retry runs the transaction again
 * and reports that second verdict — for a fenced write, `false` while the first attempt was
 * applied. Here a lost answer is an error (the outcome is unknown), never a wrong verdict. A
 * request refused for an expired auth token never ran, so it goes through etcd3's own path,
 * which renews the token.
 */
export async function txnOnce(etcd: Etcd3, request: ITxnRequest): Promise<ITxnResponse> {
  // The pool is etcd3's transport (same hosts, credentials, deadlines); its exec retries.
  const pool = (etcd as unknown as { pool: ICallable<unknown> }).pool;
  const factory = pool.callOptionsFactory;
  const options =
    typeof factory === 'function'
      ? factory({ service: 'KV', method: 'txn', params: request, isStream: false })
      : (factory ?? {});
  try {
    return await pool.withConnection(
      'KV',
      ({ client, metadata }) =>
        new Promise<ITxnResponse>((resolve, reject) => {
          (client as unknown as KvServiceClient).txn(request, metadata, options, (err, res) => {
            if (err) reject(castGrpcError(err));
            else resolve(res);
          });
        }),
    );
  } catch (err) {
    if (err instanceof EtcdInvalidAuthTokenError) return etcd.kv.txn(request);
    throw err;
  }
}
