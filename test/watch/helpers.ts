// Helpers shared by the watch hub's tests: server-side gauges and batch collection.
import type { Observable, Subscription } from 'rxjs';
import type { WatchBatch } from '../../src/watch/types.js';
import type { EtcdMember } from '../support/etcd.js';
import { waitUntil } from '../support/wait.js';

/** The watch gauges etcd exports: server-side watchers and open watch streams. */
export interface WatchGauges {
  watchers: number;
  streams: number;
}

/** Reads etcd's watcher and watch stream gauges from one member's /metrics. */
export async function watchGauges(member: EtcdMember): Promise<WatchGauges> {
  const series = await member.metrics();
  return {
    watchers: series.get('etcd_debugging_mvcc_watcher_total') ?? 0,
    streams: series.get('etcd_debugging_mvcc_watch_stream_total') ?? 0,
  };
}

/**
 * Waits until the member reports exactly these gauges (the server drops a closed stream's
 * watchers asynchronously); rejects after `timeoutMs` saying what it saw last.
 */
export async function waitGauges(
  member: EtcdMember,
  expected: WatchGauges,
  timeoutMs = 5_000,
): Promise<void> {
  let last: WatchGauges | undefined;
  await waitUntil(
    async () => {
      last = await watchGauges(member);
      return last.watchers === expected.watchers && last.streams === expected.streams;
    },
    { timeoutMs, message: `watch gauges ${JSON.stringify(expected)}` },
  ).catch((err: unknown) => {
    throw new Error(`${err instanceof Error ? err.message : String(err)}; last seen ${JSON.stringify(last)}`);
  });
}

/** Range RPCs the member has answered so far (any status). */
export function rangeCalls(member: EtcdMember): Promise<number> {
  return unaryCalls(member, ['Range']);
}

/** Reads and transactions (Range and Txn RPCs) the member has answered so far (any status). */
export function kvCalls(member: EtcdMember): Promise<number> {
  return unaryCalls(member, ['Range', 'Txn']);
}

async function unaryCalls(member: EtcdMember, methods: readonly string[]): Promise<number> {
  let total = 0;
  for (const [key, value] of await member.metrics()) {
    const counted = methods.some((m) => key.includes(`grpc_method="${m}"`));
    if (key.startsWith('grpc_server_handled_total{') && counted) total += value;
  }
  return total;
}

/** Every batch a subscription received, in order. */
export interface Collected {
  batches: WatchBatch[];
  errors: unknown[];
  completed: boolean;
  subscription: Subscription;
}

/** Subscribes to `source` and records what arrives. */
export function collect(source: Observable<WatchBatch>): Collected {
  const collected: Collected = {
    batches: [],
    errors: [],
    completed: false,
    subscription: undefined as unknown as Subscription,
  };
  collected.subscription = source.subscribe({
    next: (batch) => collected.batches.push(batch),
    error: (err: unknown) => collected.errors.push(err),
    complete: () => {
      collected.completed = true;
    },
  });
  return collected;
}

/** The events of every `events` batch, flattened, as `type key=value@revision` strings. */
export function eventLines(batches: readonly WatchBatch[]): string[] {
  return batches.flatMap((b) =>
    b.type === 'events'
      ? b.events.map((e) => `${e.type} ${e.kv.key}=${e.kv.value.toString()}@${b.revision}`)
      : [],
  );
}

/** `promise`, or a failure naming `what` after `timeoutMs` (a test must fail, not hang). */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The iterator's next result, or a failure after `timeoutMs`. */
export function nextWithin(
  iterator: AsyncIterator<WatchBatch>,
  timeoutMs = 5_000,
): Promise<IteratorResult<WatchBatch>> {
  return within(iterator.next(), timeoutMs, 'batch');
}
