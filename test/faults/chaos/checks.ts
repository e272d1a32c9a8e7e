// The chaos suite's checkers: pure functions from what the workers reported and what etcd holds
// (read linearizably once the faults are over) to a list of violated promises (empty = pass).
import { isDeepStrictEqual } from 'node:util';
import type { GuardedLock, ReportedInstance, WriteResult } from './protocol.js';

/** A counter increment as a worker reported it. */
export interface CounterReport {
  worker: string;
  op: string;
  n: number;
  result: WriteResult;
}

/** The counter's keys as etcd holds them. */
export interface CounterStore {
  /** The counter value, undefined when never written. */
  value: number | undefined;
  /** n -> op id that moved the counter to n. */
  log: Map<number, string>;
  /** op id -> n it wrote. */
  ops: Map<string, number>;
}

/**
 * No lost and no double-applied guarded write: every increment reported committed is in the
 * store exactly as reported, none reported rejected is, the log holds exactly 1..value with one
 * distinct op each, and every op in the store was reported (committed, or unknown after an error).
 */
export function checkCounter(reports: readonly CounterReport[], store: CounterStore): string[] {
  const problems: string[] = [];
  const value = store.value ?? 0;
  const byOp = new Map(reports.map((r) => [r.op, r]));
  for (const report of reports) {
    const stored = store.ops.get(report.op);
    if (report.result === 'committed' && stored !== report.n) {
      problems.push(
        `counter: op ${report.op} reported committed (n=${report.n}) but the store has ${stored === undefined ? 'no trace of it' : `n=${stored}`} (lost write)`,
      );
    }
    if (report.result === 'rejected' && stored !== undefined) {
      problems.push(`counter: op ${report.op} reported rejected but it was applied (n=${stored})`);
    }
  }
  for (const [op, n] of store.ops) {
    const logged = store.log.get(n);
    if (logged !== op) {
      problems.push(
        `counter: op ${op} set the counter to ${n} but log/${n} says ${logged ?? 'nothing'}: two holders applied the same increment (double-applied)`,
      );
    }
    const report = byOp.get(op);
    if (report === undefined) problems.push(`counter: op ${op} is in the store but no worker reported it`);
    else if (report.n !== n)
      problems.push(`counter: op ${op} was reported with n=${report.n} but wrote ${n}`);
  }
  for (let n = 1; n <= value; n++) {
    if (!store.log.has(n))
      problems.push(`counter: value is ${value} but log/${n} is missing (lost increment)`);
  }
  for (const n of store.log.keys()) {
    if (n < 1 || n > value) problems.push(`counter: log/${n} exists beyond the counter value ${value}`);
  }
  if (store.ops.size !== value) {
    problems.push(`counter: ${store.ops.size} ops applied but the counter says ${value}`);
  }
  return problems;
}

/** A fenced write by a leader, as its worker reported it. */
export interface FencedReport {
  worker: string;
  term: string;
  seq: number;
  result: WriteResult;
}

/** A fenced write as etcd holds it: `revision` is the revision that committed it. */
export interface FencedEntry {
  term: bigint;
  seq: number;
  worker: string;
  revision: bigint;
}

/**
 * No two leaders' fenced writes succeeded for overlapping terms: ordered by term, every write of
 * a term committed before every write of the next term (the revisions of the terms' writes form
 * disjoint, increasing intervals). Also: each term's writes come from the one worker that was
 * elected with that term, reported-committed writes are stored and reported-rejected ones are not.
 * `label` starts every problem (which workload's writes).
 */
export function checkFencing(
  reports: readonly FencedReport[],
  elected: ReadonlyMap<string, string>,
  entries: readonly FencedEntry[],
  label = 'fencing',
): string[] {
  const problems: string[] = [];
  const stored = new Map(entries.map((e) => [`${e.term}/${e.seq}`, e]));
  for (const report of reports) {
    const entry = stored.get(`${report.term}/${report.seq}`);
    if (report.result === 'committed' && !entry) {
      problems.push(
        `${label}: write ${report.term}/${report.seq} by ${report.worker} reported committed but is not stored`,
      );
    }
    if (report.result === 'rejected' && entry) {
      problems.push(
        `${label}: write ${report.term}/${report.seq} by ${report.worker} reported rejected but is stored`,
      );
    }
  }
  const terms = new Map<bigint, { worker: Set<string>; min: bigint; max: bigint }>();
  for (const entry of entries) {
    const electedWorker = elected.get(entry.term.toString());
    if (electedWorker !== entry.worker) {
      problems.push(
        `${label}: write ${entry.term}/${entry.seq} by ${entry.worker}, but term ${entry.term} was won by ${electedWorker ?? 'nobody'}`,
      );
    }
    const term = terms.get(entry.term);
    if (!term)
      terms.set(entry.term, { worker: new Set([entry.worker]), min: entry.revision, max: entry.revision });
    else {
      term.worker.add(entry.worker);
      if (entry.revision < term.min) term.min = entry.revision;
      if (entry.revision > term.max) term.max = entry.revision;
    }
  }
  const ordered = [...terms.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (let i = 1; i < ordered.length; i++) {
    const [prevTerm, prev] = ordered[i - 1]!;
    const [term, next] = ordered[i]!;
    if (prev.max >= next.min) {
      problems.push(
        `${label}: terms overlap: term ${prevTerm} (${[...prev.worker].join(',')}) wrote at revision ${prev.max} ` +
          `while term ${term} (${[...next.worker].join(',')}) had already written at revision ${next.min}`,
      );
    }
  }
  return problems;
}

/** A write guarded by a semaphore permit or an rwlock side, as its worker reported it. */
export interface GuardedReport {
  worker: string;
  lock: GuardedLock;
  key: string;
  result: WriteResult;
}

/** A guarded write as etcd holds it: `token` is the holder's fencing token, `revision` the commit. */
export interface GuardedEntry {
  key: string;
  lock: GuardedLock;
  token: bigint;
  revision: bigint;
}

interface Interval {
  lock: GuardedLock;
  token: bigint;
  min: bigint;
  max: bigint;
}

/**
 * The semaphore never had more than `permits` holders and a writer of the rwlock never held it
 * together with anyone: each holder's committed writes span an interval of revisions, and at no
 * revision do more than `permits` permit intervals overlap, nor does a write interval overlap any
 * other holder's. Also: reported-committed writes are stored and reported-rejected ones are not.
 */
export function checkExclusion(
  reports: readonly GuardedReport[],
  entries: readonly GuardedEntry[],
  permits: number,
): string[] {
  const problems: string[] = [];
  const stored = new Set(entries.map((e) => e.key));
  for (const report of reports) {
    if (report.result === 'committed' && !stored.has(report.key)) {
      problems.push(
        `${report.lock}: write ${report.key} by ${report.worker} reported committed but is not stored`,
      );
    }
    if (report.result === 'rejected' && stored.has(report.key)) {
      problems.push(
        `${report.lock}: write ${report.key} by ${report.worker} reported rejected but is stored`,
      );
    }
  }
  const intervals = new Map<string, Interval>();
  for (const e of entries) {
    const id = `${e.lock}/${e.token}`;
    const interval = intervals.get(id);
    if (!interval) intervals.set(id, { lock: e.lock, token: e.token, min: e.revision, max: e.revision });
    else {
      if (e.revision < interval.min) interval.min = e.revision;
      if (e.revision > interval.max) interval.max = e.revision;
    }
  }
  const all = [...intervals.values()];
  const permitsHeld = all.filter((i) => i.lock === 'semaphore');
  const most = maxOverlap(permitsHeld);
  if (most.count > permits) {
    problems.push(
      `semaphore: ${most.count} holders (tokens ${most.tokens.join(', ')}) wrote around revision ${most.at} with ${permits} permits`,
    );
  }
  const rw = all.filter((i) => i.lock !== 'semaphore');
  for (const writer of rw.filter((i) => i.lock === 'write')) {
    for (const other of rw) {
      if (other !== writer && other.min <= writer.max && writer.min <= other.max) {
        problems.push(
          `rwlock: writer ${writer.token} (revisions ${writer.min}-${writer.max}) overlapped ${other.lock === 'write' ? 'writer' : 'reader'} ${other.token} (revisions ${other.min}-${other.max})`,
        );
      }
    }
  }
  return problems;
}

/** The largest number of intervals that contain one revision, and where. */
function maxOverlap(intervals: readonly Interval[]): { count: number; at: bigint; tokens: bigint[] } {
  let best = { count: 0, at: 0n, tokens: [] as bigint[] };
  for (const probe of intervals) {
    // The maximum of closed intervals is reached at some interval's start.
    const covering = intervals.filter((i) => i.min <= probe.min && probe.min <= i.max);
    if (covering.length > best.count)
      best = { count: covering.length, at: probe.min, tokens: covering.map((i) => i.token) };
  }
  return best;
}

/** The instances discovery should show, from the registry keys read linearizably. */
export function expectedInstances(
  kvs: ReadonlyArray<{ key: string; value: string; modRevision: bigint }>,
  servicePrefix: string,
): ReportedInstance[] {
  return kvs
    .map(({ key, value, modRevision }) => ({
      id: key.slice(servicePrefix.length),
      address: (JSON.parse(value) as { address: string }).address,
      key,
      revision: modRevision.toString(),
    }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The config object the keys under `prefix` map to: '/' segments nest, values are JSON (else strings). */
export function expectedConfig(kvs: ReadonlyArray<{ key: string; value: string }>, prefix: string): unknown {
  const root: Record<string, unknown> = {};
  for (const { key, value } of kvs) {
    const segments = key.slice(prefix.length).split('/');
    let node = root;
    for (const segment of segments.slice(0, -1)) {
      node[segment] ??= {};
      node = node[segment] as Record<string, unknown>;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      parsed = value;
    }
    node[segments.at(-1)!] = parsed;
  }
  return root;
}

/** Differences between what a consumer shows and what a linearizable read says, or [] when equal. */
export function compareView(what: string, shown: unknown, expected: unknown): string[] {
  if (isDeepStrictEqual(shown, expected)) return [];
  return [`${what}: shows ${JSON.stringify(shown)} but etcd holds ${JSON.stringify(expected)}`];
}
