/**
 * How a queue names the key of each entry: the one place key names are made, so that a layout
 * speaking another client's naming (etcd's Go recipes: `<prefix><lease id hex>`, one entry per
 * session) can be added as a second {@link EntryNaming} without touching the queue itself.
 */
export interface EntryNaming {
  /** A fresh key under `prefix` for one entry on the lease `leaseId` (decimal, as etcd reports it). */
  key(prefix: string, leaseId: string): string;
  /** The longest key {@link key} can return under `prefix`: for size checks before anything is written. */
  longest(prefix: string): string;
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
  key(prefix, leaseId) {
    sequence += 1;
    return `${prefix}${BigInt(leaseId).toString(16)}-${sequence}`;
  },
  longest(prefix) {
    return `${prefix}${'f'.repeat(16)}-${Number.MAX_SAFE_INTEGER}`;
  },
};
