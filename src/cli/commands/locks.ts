import { map } from 'rxjs';
import type { CommandSpec, Parsed } from '../args.js';
import { CONNECTION_OPTIONS, connect } from '../connect.js';
import { UsageError } from '../exit.js';
import { runView } from '../live.js';
import { lockQueue, type QueueEntry } from '../lock-queue.js';
import { duration, VIEW_OPTIONS } from '../output.js';

export const spec: CommandSpec = {
  name: 'locks',
  usage: 'locks NAME [--permits N] [--json] [--once]',
  summary: "follow a lock's holder(s) and queue, in order, with how long each waits",
  description: `Follows the keys of the lock NAME (a library mutex, read-write lock or semaphore, a
"concord-etcd lock", "etcdctl lock" or Go concurrency.Mutex on the same name): who holds
it, who waits in which order, and for how long. Keys queue by create revision, which is
also each holder's fencing token. For a semaphore, give its --permits. Times count from
when the view first saw a key; a key already there when it started shows "≥" (JSON:
"sinceStart": true).

JSON lines, the whole queue on every change:
  {"type":"locks","name":"jobs","revision":"57",
   "holders":[{"key":"jobs/694d...-1","kind":"exclusive","token":"41","lease":"7587...",
               "position":0,"since":"2025-01-01T10:00:00.000Z","sinceStart":true,
               "forMs":5012}],
   "waiters":[{"key":"jobs/694e...-3",...,"position":1,...}]}
"kind" is read or write for a read-write lock, exclusive otherwise.`,
  options: {
    permits: { type: 'string', value: 'N', help: 'the lock is a semaphore with N permits (default 1)' },
    ...VIEW_OPTIONS,
    ...CONNECTION_OPTIONS,
  },
  positionals: { min: 1, max: 1, names: 'NAME' },
};

interface LocksState {
  revision: bigint;
  queue: QueueEntry[];
}

export async function run({ flags, positionals }: Parsed): Promise<number> {
  const name = positionals[0]!;
  if (name.includes('/') || name === '')
    throw new UsageError(`locks: NAME must be one key segment, without '/' (got '${name}')`);
  const permits = flags.integer('permits', 1, 1);
  const concord = await connect(flags);
  const seen = new Map<string, { since: number; sinceStart: boolean }>();
  let first = true;
  const states = concord.view({ prefix: `${name}/` }).pipe(
    map((view): LocksState => {
      const queue = lockQueue(name, view.entries.values(), permits, seen, Date.now(), first);
      first = false;
      return { revision: view.revision, queue };
    }),
  );
  return runView(concord, flags, {
    title: `lock '${name}'${permits > 1 ? ` (${permits} permits)` : ''}`,
    mode: 'redraw',
    states,
    json: ({ revision, queue }) => {
      const now = Date.now();
      const entries = queue.map((entry, position) => entryJson(entry, position, now));
      return [
        {
          type: 'locks',
          name,
          revision,
          holders: entries.filter((_, i) => queue[i]!.holding),
          waiters: entries.filter((_, i) => !queue[i]!.holding),
        },
      ];
    },
    screen: ({ revision, queue }, now) => {
      const holding = queue.filter((e) => e.holding).length;
      const lines = [`${holding} holding, ${queue.length - holding} waiting   (revision ${revision})`];
      let waiting = 0;
      for (const entry of queue) {
        const label = entry.holding ? 'HOLDS ' : `wait ${++waiting}`.padEnd(6);
        const kind = entry.kind === 'exclusive' ? '' : ` ${entry.kind}`;
        const time = `${entry.sinceStart ? '≥ ' : ''}${duration(now - entry.since)}`;
        lines.push(
          `  ${label}  ${entry.key}${kind}   token ${entry.token}   ${entry.holding ? 'holding' : 'waiting'} ${time}`,
        );
      }
      return lines;
    },
  });
}

function entryJson(entry: QueueEntry, position: number, now: number) {
  const { key, kind, token, lease, since, sinceStart } = entry;
  return {
    key,
    kind,
    token,
    lease,
    position,
    since: new Date(since).toISOString(),
    sinceStart,
    forMs: now - since,
  };
}
