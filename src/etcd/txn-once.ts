import { setTimeout as delay } from 'node:timers/promises';
import {
  castGrpcError,
  type Etcd3,
  EtcdInvalidAuthTokenError,
  type ITxnRequest,
  type ITxnResponse,
} from 'etcd3';
import { type CallOptionsSource, callOptions } from './call-options.js';

interface KvServiceClient {
  txn(
    request: ITxnRequest,
    metadata: unknown,
    options: object,
    callback: (err: Error | null, res: ITxnResponse) => void,
  ): void;
}

/**
 * The parts of etcd3's connection pool used here. `withConnection` takes a host generator
 * (private in its typings) so that successive attempts go to successive members.
 */
interface Pool extends CallOptionsSource {
  shuffledHosts(): Generator<unknown, void, unknown>;
  withConnection<R>(
    service: 'KV',
    fn: (args: { client: unknown; metadata: unknown }) => Promise<R>,
    hosts: Generator<unknown, void, unknown>,
  ): Promise<R>;
}

/** How often a transaction that provably never left the client is tried on the next member. */
const UNSENT_ATTEMPTS = 6;

/**
 * Runs one etcd transaction exactly once. etcd3's `kv.txn` goes through its global retry
 * policy: when an attempt commits but its answer is lost, the retry runs the transaction again
 * and reports that second verdict — for a fenced write, `false` while the first attempt was
 * applied. Here a lost answer is an error (the outcome is unknown), never a wrong verdict.
 * Only a request that provably never reached etcd (gRPC had no connection to the member and
 * failed it at once) is sent again, to the next member, so a killed member costs no verdict. A request refused for an expired auth token never ran either, so it goes through
 * etcd3's own path, which renews the token.
 */
export async function txnOnce(etcd: Etcd3, request: ITxnRequest): Promise<ITxnResponse> {
  // The pool is etcd3's transport (same hosts, credentials, deadlines); its exec retries.
  const pool = (etcd as unknown as { pool: Pool }).pool;
  const hosts = pool.shuffledHosts();
  for (let attempt = 1; ; attempt++) {
    try {
      return await pool.withConnection(
        'KV',
        ({ client, metadata }) => send(pool, client, metadata, request),
        hosts,
      );
    } catch (err) {
      if (err instanceof EtcdInvalidAuthTokenError) return etcd.kv.txn(request);
      if (attempt >= UNSENT_ATTEMPTS || !neverSent(err)) throw err;
      await delay(Math.min(25 * 2 ** attempt, 500));
    }
  }
}

/**
 * True when gRPC failed the call before writing it anywhere: its channel to the member is in
 * transient failure (connection refused or reset), so the call was never given a connection.
 */
function neverSent(err: unknown): boolean {
  return err instanceof Error && /No connection established/.test(err.message);
}

function send(pool: Pool, client: unknown, metadata: unknown, request: ITxnRequest): Promise<ITxnResponse> {
  const options = callOptions(pool, { service: 'KV', method: 'txn', params: request, isStream: false });
  return new Promise<ITxnResponse>((resolve, reject) => {
    (client as KvServiceClient).txn(request, metadata, options, (err, res) => {
      if (err) reject(castGrpcError(err));
      else resolve(res);
    });
  });
}
