/** Options of the reads of `concord.kv` (`get`, `getPrefix`). */
export interface KvReadOptions {
  /** Aborting rejects the read with the signal's reason (a paginated read stops at the next page). */
  signal?: AbortSignal;
}

/** What `concord.kv.put()` resolves to. */
export interface KvPutResult {
  /** The revision of the write: the key's new mod revision. */
  revision: bigint;
}

/** What `concord.kv.delete()` resolves to. */
export interface KvDeleteResult {
  /** Whether the key existed (and so was deleted). */
  deleted: boolean;
  /** The store's revision after the call: the delete's revision when `deleted`. */
  revision: bigint;
}
