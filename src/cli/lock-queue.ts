import type { KeyValue } from '../watch/types.js';

/** One key in a lock's queue, as `locks NAME` shows it. */
export interface QueueEntry {
  key: string;
  /** `read`/`write`: a read-write lock's sides; `exclusive`: a mutex or semaphore key (also etcdctl's and Go's). */
  kind: 'read' | 'write' | 'exclusive';
  holding: boolean;
  /** The key's create revision: its place in the queue and its fencing token. */
  token: bigint;
  /** The lease, decimal. */
  lease: string;
  /** When the view first saw the key (epoch ms). */
  since: number;
  /** The key was there when the view started: it has been there at least since `since`. */
  sinceStart: boolean;
}

/**
 * Who holds and who waits among the keys under `<name>/`, by the library's rules: keys queue by
 * create revision; `<name>/read/…` holds while no older `<name>/write/…` key exists, `<name>/write/…`
 * while no key is older, any other key while fewer than `permits` keys are older (1: a mutex;
 * a semaphore's permits). `seen` maps keys to when they were first seen and is updated.
 */
export function lockQueue(
  name: string,
  entries: Iterable<KeyValue>,
  permits: number,
  seen: Map<string, { since: number; sinceStart: boolean }>,
  now: number,
  first: boolean,
): QueueEntry[] {
  const sorted = [...entries].sort((a, b) => (a.createRevision < b.createRevision ? -1 : 1));
  const present = new Set(sorted.map((kv) => kv.key));
  for (const key of seen.keys()) if (!present.has(key)) seen.delete(key);
  let older = 0;
  let olderWriters = 0;
  return sorted.map((kv) => {
    const rest = kv.key.slice(name.length + 1);
    const kind = rest.startsWith('read/') ? 'read' : rest.startsWith('write/') ? 'write' : 'exclusive';
    const holding = kind === 'read' ? olderWriters === 0 : older < (kind === 'write' ? 1 : permits);
    older++;
    if (kind === 'write') olderWriters++;
    let mark = seen.get(kv.key);
    if (!mark) {
      mark = { since: now, sinceStart: first };
      seen.set(kv.key, mark);
    }
    return { key: kv.key, kind, holding, token: kv.createRevision, lease: kv.lease, ...mark };
  });
}
