import type { EventBus } from '../core/events.js';
import type { Runtime } from '../core/runtime.js';
import type { EventRange } from '../events/types.js';
import type { EtcdRange, RangeSnapshot } from './range.js';

// The hub's `concord.events$`: its stream opening (first or again) and its compaction re-reads.

/** The watch stream opened carrying `watches` watches; `downMs` after the previous one failed, if one did. */
export function emitOpened(events: EventBus, watches: number, downMs: number | undefined): void {
  if (!events.observed) return;
  if (downMs === undefined) events.emit({ type: 'watch.connected', watches });
  else events.emit({ type: 'watch.reconnected', watches, downMs: Math.round(downMs) });
}

/** A range whose history etcd compacted was re-read (`snapshot`) and is delivered as a resync. */
export function emitResync(
  runtime: Runtime,
  range: EtcdRange,
  snapshot: RangeSnapshot<unknown>,
  compactRevision: bigint,
): void {
  const { events } = runtime;
  if (!events.observed) return;
  events.emit({
    type: 'watch.resync',
    range: callerRange(runtime, range),
    keys: snapshot.entries.size,
    pages: snapshot.pages,
    revision: snapshot.revision,
    compactRevision,
  });
}

/** The range as the caller named it: the namespace stripped, etcd's "every key" start `\0` read as ''. */
function callerRange(runtime: Runtime, range: EtcdRange): EventRange {
  const key = runtime.keys.strip(range.key);
  if (range.rangeEnd === undefined) return { key };
  return { prefix: key === '\0' ? '' : key };
}
