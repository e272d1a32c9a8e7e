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
