import type { Etcd3 } from 'etcd3';
import { pool } from './etcd.js';

const OPS_PER_TXN = 100; // etcd's default --max-txn-ops is 128

/**
 * Writes `count` keys `key(i)` = `value(i)` in transactions of 100 puts, a few in flight, and
 * resolves with the revision after the last one.
 */
export async function loadKeys(
  etcd: Etcd3,
  count: number,
  key: (i: number) => string,
  value: (i: number) => string,
  signal: AbortSignal,
  lease?: string,
): Promise<bigint> {
  let revision = 0n;
  await pool(
    Math.ceil(count / OPS_PER_TXN),
    4,
    async (batch) => {
      const ops = [];
      for (let i = batch * OPS_PER_TXN; i < Math.min(count, (batch + 1) * OPS_PER_TXN); i++) {
        ops.push({
          request_put: {
            key: Buffer.from(key(i)),
            value: Buffer.from(value(i)),
            ...(lease ? { lease } : {}),
          },
        });
      }
      const res = await etcd.kv.txn({ compare: [], success: ops, failure: [] });
      const rev = BigInt(res.header.revision);
      if (rev > revision) revision = rev;
    },
    signal,
  );
  return revision;
}
