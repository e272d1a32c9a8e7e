import type { ICompare, IRequestOp } from 'etcd3';
import { assertFits, toBytes } from '../core/keys.js';
import type { Runtime } from '../core/runtime.js';
import { InvalidArgumentError } from '../errors.js';
import { txnOnce } from './txn-once.js';

/** One write inside a guarded transaction (`lock.txn`, `leadership.txn`). Keys are the caller's names. */
export type TxnOp =
  | { type: 'put'; key: string; value: string | Uint8Array }
  | { type: 'delete'; key: string };

/** Validates `ops` and converts them to etcd request ops. Throws {@link InvalidArgumentError} before anything is sent. */
export function toRequestOps(runtime: Runtime, ops: unknown): IRequestOp[] {
  if (!Array.isArray(ops))
    throw new InvalidArgumentError('ops', 'must be an array of { type, key, value? }', ops);
  return ops.map((op: unknown, i): IRequestOp => {
    const name = `ops[${i}]`;
    if (op === null || typeof op !== 'object') throw new InvalidArgumentError(name, 'must be an object', op);
    const { type, key, value } = op as Record<string, unknown>;
    if (typeof key !== 'string' || key === '')
      throw new InvalidArgumentError(`${name}.key`, 'must be a non-empty string', key);
    const etcdKey = runtime.keys.key(key);
    if (type === 'put') {
      if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
        throw new InvalidArgumentError(`${name}.value`, 'must be a string or Uint8Array', value);
      }
      const bytes = toBytes(value);
      assertFits(`${name}.value`, etcdKey, bytes);
      return { request_put: { key: etcdKey, value: bytes } };
    }
    if (type === 'delete') {
      assertFits(`${name}.key`, etcdKey);
      return { request_delete_range: { key: etcdKey } };
    }
    throw new InvalidArgumentError(`${name}.type`, "must be 'put' or 'delete'", type);
  });
}

/**
 * The compare that holds only while `key` still exists with `createRevision`: the check behind
 * every fencing token (guarded writes, a waiter's look at the queue, a leader's term).
 */
export function ownKeyCompare(runtime: Runtime, key: string, createRevision: bigint): ICompare {
  return {
    key: runtime.keys.key(key),
    target: 'Create',
    result: 'Equal',
    create_revision: createRevision.toString(),
  };
}

/**
 * The compare that holds only while `key` exists on the lease `leaseId`: proof enough that a
 * key whose name is unique to its writer is still that writer's, when its create revision is
 * unknown (an answer was lost) or beside the point (a registration's key).
 */
export function leaseCompare(runtime: Runtime, key: string, leaseId: string): ICompare {
  return { key: runtime.keys.key(key), target: 'Lease', result: 'Equal', lease: leaseId };
}

/**
 * Commits `ops` atomically if and only if `guardKey` still exists with `createRevision` (the
 * holder's fencing token). Resolves to whether it committed. A lock or leadership that was
 * lost (key deleted, lease expired, or re-created by someone else) can never commit.
 */
export async function guardedTxn(
  runtime: Runtime,
  guardKey: string,
  createRevision: bigint,
  ops: unknown,
): Promise<boolean> {
  const success = toRequestOps(runtime, ops);
  // Exactly once: a retried fenced write could report `false` although an attempt was applied.
  const request = { compare: [ownKeyCompare(runtime, guardKey, createRevision)], success, failure: [] };
  const res = await txnOnce(runtime.etcd, request);
  return res.succeeded;
}
