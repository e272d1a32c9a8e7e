import type { EtcdCluster } from '../../test/support/etcd.js';

/** RPCs by method: unary calls etcd handled, and messages it received on the two streams. */
export type RpcCounts = Record<string, number>;

/** Unary methods the coordination primitives call. */
const UNARY = ['Range', 'Put', 'DeleteRange', 'Txn', 'LeaseGrant', 'LeaseRevoke'];

/**
 * The bench member's RPC counters: unary calls from `grpc_server_handled_total` by method, and
 * for the Watch and LeaseKeepAlive streams the requests received on them
 * (`grpc_server_msg_received_total`: watch creates and cancels, keepalives), since a stream is
 * "handled" only once, when it ends.
 */
export async function serverRpcs(cluster: EtcdCluster): Promise<RpcCounts> {
  const counts: RpcCounts = {};
  for (const [series, value] of await cluster.members[0]!.metrics()) {
    const method = /grpc_method="([^"]+)"/.exec(series)?.[1];
    if (method === undefined) continue;
    if (series.startsWith('grpc_server_handled_total{') && UNARY.includes(method)) {
      counts[method] = (counts[method] ?? 0) + value;
    } else if (
      series.startsWith('grpc_server_msg_received_total{') &&
      (method === 'Watch' || method === 'LeaseKeepAlive')
    ) {
      const name = method === 'Watch' ? 'Watch requests' : 'keepalives';
      counts[name] = (counts[name] ?? 0) + value;
    }
  }
  return counts;
}

/**
 * The RPCs the bench member received while `op` ran (not timed): `op` resolves once everything
 * it causes is done. Run one operation at a time, nothing else in flight.
 */
export async function countRpcs(cluster: EtcdCluster, op: () => Promise<void>): Promise<RpcCounts> {
  const before = await serverRpcs(cluster);
  await op();
  // etcd counts a call once its handler returned: let the last answers' counts land.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const after = await serverRpcs(cluster);
  const delta: RpcCounts = {};
  for (const k of Object.keys(after)) delta[k] = after[k]! - (before[k] ?? 0);
  return delta;
}

/** The mean of several counts, per method, rounded to 0.01; methods never called are left out. */
export function meanRpcs(samples: RpcCounts[]): RpcCounts {
  const sum: RpcCounts = {};
  for (const sample of samples) for (const [k, v] of Object.entries(sample)) sum[k] = (sum[k] ?? 0) + v;
  const mean: RpcCounts = {};
  for (const [k, v] of Object.entries(sum))
    if (v !== 0) mean[k] = Math.round((v / samples.length) * 100) / 100;
  return mean;
}

/** Unary RPCs in `counts` (stream messages left out). */
export function unaryRpcs(counts: RpcCounts): number {
  return UNARY.reduce((sum, m) => sum + (counts[m] ?? 0), 0);
}

/** `Txn 2, Range 1, Watch requests 2`, largest first. */
export function describeRpcs(counts: RpcCounts): string {
  const parts = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  return parts.length === 0 ? 'none' : parts.map(([k, v]) => `${k} ${v}`).join(', ');
}
