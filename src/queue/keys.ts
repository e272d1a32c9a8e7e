/**
 * How a queue names the key of each entry: the one place key names are made. Two namings exist:
 * {@link UNIQUE_KEYS} (concord's own, one key per entry) and {@link LEASE_KEYS} (etcd's Go
 * recipes, one key per lease).
 */
export interface EntryNaming {
  /** A key under `prefix` for one entry on the lease `leaseId` (decimal, as etcd reports it). */
  key(prefix: string, leaseId: string): string;
  /** The longest key {@link key} can return under `prefix`: for size checks before anything is written. */
  longest(prefix: string): string;
  /**
   * True when every entry of one lease gets the same key, so two entries of one session at once
   * would share (adopt) one key: whoever queues with this naming on a shared session must allow
   * one entry per session and prefix at a time (see `one-per-lease.ts`).
   */
  readonly perLease: boolean;
}

let sequence = 0;

/**
 * `<prefix><lease id hex>-<n>`, with `n` counting up in this process. The lease id in hex is how
 * etcd's Go client names its lock keys, so the queue order interoperates with Go lockers under
 * the same prefix; the counter makes every entry its own key, so two acquisitions or campaigns on
 * one session are two queue entries that exclude each other like two processes. A key of this
 * name can only exist on another lease by misuse.
 */
export const UNIQUE_KEYS: EntryNaming = {
  perLease: false,
  key(prefix, leaseId) {
    sequence += 1;
    return `${prefix}${BigInt(leaseId).toString(16)}-${sequence}`;
  },
  longest(prefix) {
    return `${prefix}${'f'.repeat(16)}-${Number.MAX_SAFE_INTEGER}`;
  },
};

/**
 * `<prefix><lease id hex>`: exactly the key etcd's Go client (`concurrency.NewElection`,
 * `concurrency.NewMutex`, `etcdctl elect` / `etcdctl lock`) puts for a session under the same
 * prefix, so Go candidates and concord candidates see, queue behind and watch each other's keys.
 * One key per lease: the same session always names the same key (Go then resumes the entry
 * already there).
 */
export const LEASE_KEYS: EntryNaming = {
  perLease: true,
  key(prefix, leaseId) {
    return `${prefix}${BigInt(leaseId).toString(16)}`;
  },
  longest(prefix) {
    return `${prefix}${'f'.repeat(16)}`;
  },
};

/**
 * The keys of one primitive (a lock, an election): everything under `prefix` belongs to it, and
 * `isEntry` tells which of those keys are queue entries. Guarded writes (`lock.txn`,
 * `leadership.txn`) must stay out of `prefix`; the queue counts only entries.
 */
export interface QueueSpace {
  readonly prefix: string;
  /** Whether the key (the caller's name) on the lease `lease` (decimal, `'0'` for none) is a queue entry. */
  isEntry(key: string, lease: string): boolean;
}

/**
 * The space under `prefix` whose entries sit directly under one of `entryPrefixes` (default:
 * `prefix` itself; a read-write lock has `read/` and `write/` queues below its prefix).
 *
 * An entry is a key attached to a lease whose name is that lease's id, in hex (concord's
 * `<hex>-<n>`, etcd's Go recipes `concurrency.NewMutex` / `NewElection` and `etcdctl lock` /
 * `elect`: `<hex>`) or in decimal (the etcd3 npm Election: `<decimal>`), optionally followed by
 * `-<n>`. Anything else under the prefix (data someone wrote there, a key without a lease, which
 * would never go away) is not an entry: it takes no place in the queue, so it can neither block a
 * waiter nor be taken for the holder.
 */
export function queueSpace(prefix: string, entryPrefixes: readonly string[] = [prefix]): QueueSpace {
  return {
    prefix,
    isEntry(key, lease) {
      if (lease === '0') return false;
      const under = entryPrefixes.find((p) => key.startsWith(p));
      if (under === undefined) return false;
      const match = /^([0-9a-f]+)(?:-\d+)?$/.exec(key.slice(under.length));
      const id = match?.[1];
      return id !== undefined && (id === lease || id === BigInt(lease).toString(16));
    },
  };
}
