import { filter, map } from 'rxjs';
import type { KeyValue, KvEvent, WatchBatch } from '../../watch/types.js';
import type { CommandSpec, Parsed } from '../args.js';
import { CONNECTION_OPTIONS, connect } from '../connect.js';
import { runView } from '../live.js';
import { shown, storedValue, VIEW_OPTIONS } from '../output.js';

export const spec: CommandSpec = {
  name: 'watch',
  usage: 'watch PREFIX [--from-revision R] [--prev-kv] [--json]',
  summary: 'follow every change under a prefix, in revision order, resyncs marked',
  description: `Prints every put and delete under PREFIX ('' for everything) in revision order, with
no gap and no duplicate across reconnects. When etcd compacted history the watch still
needed, a "resync" line carries the full state of the prefix at a fresh read and the
watch continues from there. Runs until SIGINT or SIGTERM.

JSON lines (every line has a "type"):
  {"type":"watching","prefix":"jobs/","revision":"41"}      live from after revision 41
  {"type":"put","revision":"42","key":"jobs/a","value":"1","createRevision":"42",
   "modRevision":"42","version":"1","lease":"0"}           ("valueBase64" when not UTF-8)
  {"type":"delete","revision":"43","key":"jobs/a",...}
  {"type":"resync","revision":"90","compactRevision":"88","keys":[{"key":...},...]}
  {"type":"connection","state":"disconnected"}              (and "connected" again)
Events of one transaction share their revision. With --prev-kv, puts and deletes carry
"prev" (the key before the change) when etcd still had it.`,
  options: {
    'from-revision': {
      type: 'string',
      value: 'R',
      help: 'replay history from revision R (>= 1) before following live changes',
    },
    'prev-kv': { type: 'boolean', help: 'include each key\'s previous value ("prev")' },
    json: VIEW_OPTIONS.json!,
    ...CONNECTION_OPTIONS,
  },
  positionals: { min: 1, max: 1, names: 'PREFIX' },
};

export async function run({ flags, positionals }: Parsed): Promise<number> {
  const prefix = positionals[0]!;
  const fromRevision = flags.revision('from-revision', 1n);
  const prevKv = flags.boolean('prev-kv');
  const concord = await connect(flags);
  const options = { ...(fromRevision === undefined ? {} : { fromRevision }), prevKv };
  // Only the first progress batch says something (where a live watch starts); later ones are heartbeats.
  let started = false;
  const batches = concord.watch({ prefix }, options).pipe(
    filter((batch) => batch.type !== 'progress' || !started),
    map((batch) => {
      started = true;
      return batch;
    }),
  );
  return runView(concord, flags, {
    title: `watching '${prefix}'`,
    mode: 'append',
    states: batches,
    json: (batch) => batchJson(prefix, batch),
    screen: batchLines,
  });
}

/** A key as a JSON object. */
export function keyJson(kv: KeyValue): Record<string, unknown> {
  return {
    key: kv.key,
    ...storedValue(kv.value),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    lease: kv.lease,
  };
}

function eventJson(revision: bigint, event: KvEvent): Record<string, unknown> {
  const { key, ...rest } = keyJson(event.kv);
  const line: Record<string, unknown> = { type: event.type, revision, key };
  Object.assign(line, event.type === 'delete' ? { modRevision: event.kv.modRevision } : rest);
  if (event.prev) line.prev = keyJson(event.prev);
  return line;
}

function batchJson(prefix: string, batch: WatchBatch): unknown[] {
  switch (batch.type) {
    case 'progress':
      return [{ type: 'watching', prefix, revision: batch.revision }];
    case 'resync':
      return [
        {
          type: 'resync',
          revision: batch.revision,
          compactRevision: batch.compactRevision,
          keys: [...batch.snapshot.values()].map(keyJson),
        },
      ];
    default:
      return batch.events.map((event) => eventJson(batch.revision, event));
  }
}

function batchLines(batch: WatchBatch): string[] {
  switch (batch.type) {
    case 'progress':
      return [`-- live from after revision ${batch.revision}`];
    case 'resync':
      return [
        `-- RESYNC at revision ${batch.revision} (history compacted at ${batch.compactRevision}): ${batch.snapshot.size} keys`,
        ...[...batch.snapshot.values()].map((kv) => `   ${kv.key} = ${shown(kv.value)}`),
      ];
    default:
      return batch.events.map((e) =>
        e.type === 'put'
          ? `${batch.revision}  PUT     ${e.kv.key} = ${shown(e.kv.value)}${e.kv.lease === '0' ? '' : `  (lease ${BigInt(e.kv.lease).toString(16)})`}`
          : `${batch.revision}  DELETE  ${e.kv.key}`,
      );
  }
}
