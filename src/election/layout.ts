import { randomBytes } from 'node:crypto';
import { assertFits, toBytes } from '../core/keys.js';
import { InvalidArgumentError } from '../errors.js';
import type { KeyValue } from '../watch/types.js';

/**
 * What an observer knows about the current leader of an election. `term` is the create revision
 * of the leader's key: it grows with every new leadership and is the leader's fencing token.
 */
export interface LeaderInfo {
  /** The leader's candidate key (the Concord namespace stripped). */
  readonly key: string;
  /** The value the leader campaigned with, or the last one it proclaimed. */
  readonly value: string;
  /** The create revision of the leader's key: its fencing token. */
  readonly term: bigint;
}

/**
 * Key layout of an election named `name`:
 *
 *     election/<name>/<lease id, hex>-<8 random hex digits>   value: the candidate's value (UTF-8)
 *
 * Every campaign puts one key under the prefix, attached to its session's lease. Candidates
 * queue by the key's create revision; the key with the smallest create revision is the leader.
 * The random suffix gives every campaign its own key, so several campaigns may share a session
 * and still compete like separate processes.
 */
export function electionPrefix(name: string): string {
  return `election/${name}/`;
}

/** A fresh candidate key for a campaign on the lease `leaseId` (decimal). */
export function candidateKey(prefix: string, leaseId: string): string {
  return `${prefix}${BigInt(leaseId).toString(16)}-${randomBytes(4).toString('hex')}`;
}

/** The leader among the candidate keys of one election: the one created first. */
export function leaderOf(entries: Iterable<KeyValue>): LeaderInfo | undefined {
  let first: KeyValue | undefined;
  for (const kv of entries) if (first === undefined || kv.createRevision < first.createRevision) first = kv;
  return first && { key: first.key, value: first.value.toString('utf8'), term: first.createRevision };
}

/** True when two observations name the same leader with the same value. */
export function sameLeader(a: LeaderInfo | undefined, b: LeaderInfo | undefined): boolean {
  return (
    a === b ||
    (a !== undefined && b !== undefined && a.key === b.key && a.term === b.term && a.value === b.value)
  );
}

/**
 * Checks a candidate's value (a string that fits one etcd request together with `etcdKey`) and
 * returns its bytes. Throws {@link InvalidArgumentError} naming `value` otherwise.
 */
export function checkValue(etcdKey: Buffer, value: unknown): Buffer {
  if (typeof value !== 'string') throw new InvalidArgumentError('value', 'must be a string', value);
  const bytes = toBytes(value);
  assertFits('value', etcdKey, bytes);
  return bytes;
}
