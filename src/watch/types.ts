/** A range to watch: one key, or every key starting with a prefix (names as the caller uses them). */
export type WatchRange = { key: string } | { prefix: string };

/** Options of `Concord.watch`. */
export interface WatchOptions {
  /**
   * Deliver history from this revision on (>= 1). Without it the watch starts "now" and shares
   * the server-side watch of other subscribers of the same range; its first batch is then a
   * `progress` batch at the revision it starts after (every later change reaches it). A
   * revision etcd already compacted yields a `resync` batch, never an error.
   */
  fromRevision?: bigint;
  /** Include each key's previous value in events (`KvEvent.prev`). */
  prevKv?: boolean;
}

/** How concord's own waits watch, beyond {@link WatchOptions} (internal; never public). */
export interface InternalWatch {
  /** Unsubscribing the hub's last watch cancels it but closes the stream only a moment later. */
  linger?: boolean;
  /** etcd sends no put events (NOPUT): for waits that only count keys going away. */
  deletesOnly?: boolean;
}

/** Options of `Concord.watchIterator`, for consumers slower than the write rate. */
export interface WatchIteratorOptions {
  /**
   * Batches held for the consumer before its overflow policy applies. Default: the Concord's
   * `watch.maxBuffered` (1,000).
   */
  maxBuffered?: number;
  /**
   * What happens when the buffer is full. `'resync'` (default): the buffered batches are
   * dropped and the consumer's next batch is a `resync` with the range's state at a fresh
   * read, after which live batches continue with no gap. `'error'`: the iterator throws
   * `SlowConsumerError`.
   */
  overflow?: 'resync' | 'error';
}

/** One key as etcd stores it; `key` is the caller's name (the Concord namespace removed). */
export interface KeyValue {
  key: string;
  value: Buffer;
  createRevision: bigint;
  modRevision: bigint;
  version: bigint;
  /** The lease the key is attached to, decimal; `'0'` when none. */
  lease: string;
}

/** A change to one key. `prev` is present when the watch asked for `prevKv` and etcd still had it. */
export interface KvEvent {
  type: 'put' | 'delete';
  kv: KeyValue;
  prev?: KeyValue;
}

/**
 * What a watch delivers. `events`: every event of exactly one revision (a transaction arrives
 * whole). `resync`: the range's complete state at `revision`, sent when history the
 * subscriber needed was compacted away; continue from there. `progress`: nothing changed in
 * the range up to `revision`.
 */
export type WatchBatch =
  | { type: 'events'; revision: bigint; events: KvEvent[] }
  | { type: 'resync'; revision: bigint; snapshot: ReadonlyMap<string, KeyValue>; compactRevision: bigint }
  | { type: 'progress'; revision: bigint };

/** The state of every key under a prefix as of `revision`. */
export interface View {
  revision: bigint;
  entries: ReadonlyMap<string, KeyValue>;
}

/** What the watch hub holds open right now. */
export interface WatchStats {
  /** gRPC watch streams open to etcd (0 or 1). */
  streams: number;
  /** Server-side watches registered on that stream. */
  upstreamWatches: number;
  /** Subscribers of `watch`, `view` and `watchIterator` across all ranges. */
  subscribers: number;
}
