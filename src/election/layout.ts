import { assertFits, toBytes } from '../core/keys.js';
import { checkName, checkSegment } from '../core/validate.js';
import { InvalidArgumentError } from '../errors.js';
import { type EntryNaming, LEASE_KEYS, type QueueSpace, UNIQUE_KEYS } from '../queue/keys.js';
import type { KeyValue } from '../watch/types.js';
import type { ElectionKeyLayout, LeaderInfo } from './types.js';

/** Where an election's candidates queue and how their keys are named. */
export interface ElectionLayout {
  /** Every key under it is a candidate. */
  readonly prefix: string;
  readonly naming: EntryNaming;
}

/**
 * Key layout of an election named `name`. The default, `'etcd3'` (etcd3 npm's prefix):
 *
 *     election/<name>/<lease id, hex>-<n>   value: the candidate's value (UTF-8)
 *
 * `'go'` (etcd's Go recipes: `concurrency.NewElection(session, name)`, `etcdctl elect name`):
 *
 *     <name>/<lease id, hex>                value: the candidate's value (UTF-8)
 *
 * Every campaign puts one key under the prefix, attached to its session's lease. Candidates
 * queue by the key's create revision; the key with the smallest create revision is the leader.
 * With `'etcd3'` the key names are the queue's ({@link UNIQUE_KEYS}): every campaign has its own
 * key, so several campaigns may share a session and still compete like separate processes. With
 * `'go'` there is one key per lease ({@link LEASE_KEYS}), as in Go, so a session campaigns once at
 * a time; the name is Go's election name as it is, `/` included (so, as in Go, the candidates of
 * `a/b` are also under `a/`: names must not be prefixes of one another).
 */
export function electionLayout(name: string, layout: ElectionKeyLayout = 'etcd3'): ElectionLayout {
  return layout === 'go'
    ? { prefix: `${name}/`, naming: LEASE_KEYS }
    : { prefix: `election/${name}/`, naming: UNIQUE_KEYS };
}

/**
 * Checks an election's `options.layout` and `name` for it: one key segment for `'etcd3'`, any
 * non-empty name without control characters for `'go'`. Throws {@link InvalidArgumentError}.
 */
export function checkLayout(name: unknown, layout: unknown): asserts name is string {
  if (layout !== undefined && layout !== 'etcd3' && layout !== 'go') {
    throw new InvalidArgumentError('options.layout', "must be 'etcd3' or 'go'", layout);
  }
  if (layout === 'go') checkName('name', name);
  else checkSegment('name', name);
}

/**
 * The leader among the keys under one election's prefix: the candidate (queue entry of `space`)
 * created first. Other keys there are nobody's candidacy and never the leader.
 */
export function leaderOf(entries: Iterable<KeyValue>, space: QueueSpace): LeaderInfo | undefined {
  let first: KeyValue | undefined;
  for (const kv of entries) {
    if (!space.isEntry(kv.key, kv.lease)) continue;
    if (first === undefined || kv.createRevision < first.createRevision) first = kv;
  }
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
