// The chaos checkers must catch what they claim to catch: each violation is fed to them on
// purpose here (no etcd needed), and the schedule must be a pure function of the seed.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type CounterReport,
  type CounterStore,
  checkCounter,
  checkExclusion,
  checkFencing,
  compareView,
  expectedConfig,
  expectedInstances,
  type FencedEntry,
  type FencedReport,
  type GuardedEntry,
} from './chaos/checks.js';
import { makeSchedule } from './chaos/schedule.js';

function store(ops: Array<[string, number]>, log?: Array<[number, string]>, value?: number): CounterStore {
  return {
    value: value ?? (ops.length === 0 ? undefined : Math.max(...ops.map(([, n]) => n))),
    ops: new Map(ops),
    log: new Map(log ?? ops.map(([op, n]) => [n, op])),
  };
}

const committed = (op: string, n: number): CounterReport => ({
  worker: op.split('-')[0]!,
  op,
  n,
  result: 'committed',
});

describe('chaos checkers', () => {
  test('counter: a clean history passes', () => {
    const reports = [
      committed('w0-1', 1),
      committed('w1-1', 2),
      { ...committed('w0-2', 3), result: 'unknown' as const },
    ];
    assert.deepEqual(
      checkCounter(
        reports,
        store([
          ['w0-1', 1],
          ['w1-1', 2],
          ['w0-2', 3],
        ]),
      ),
      [],
    );
    // An unknown outcome that did not commit is fine too.
    assert.deepEqual(
      checkCounter(
        reports,
        store([
          ['w0-1', 1],
          ['w1-1', 2],
        ]),
      ),
      [],
    );
  });

  test('counter: a committed write missing from the store is a lost write', () => {
    const problems = checkCounter([committed('w0-1', 1), committed('w1-1', 2)], store([['w0-1', 1]]));
    assert.ok(
      problems.some((p) => p.includes('w1-1') && p.includes('lost write')),
      problems.join('\n'),
    );
  });

  test('counter: two holders applying the same increment is a double-applied write', () => {
    // Both read 0 and wrote 1: the log keeps only the last, the counter says 1 for 2 commits.
    const problems = checkCounter(
      [committed('w0-1', 1), committed('w1-1', 1)],
      store(
        [
          ['w0-1', 1],
          ['w1-1', 1],
        ],
        [[1, 'w1-1']],
        1,
      ),
    );
    assert.ok(
      problems.some((p) => p.includes('double-applied')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.includes('2 ops applied but the counter says 1')),
      problems.join('\n'),
    );
  });

  test('counter: a write reported rejected that was applied, and an unreported op, are caught', () => {
    const problems = checkCounter(
      [{ ...committed('w0-1', 1), result: 'rejected' }],
      store([
        ['w0-1', 1],
        ['w9-1', 2],
      ]),
    );
    assert.ok(
      problems.some((p) => p.includes('reported rejected but it was applied')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.includes('no worker reported it')),
      problems.join('\n'),
    );
  });

  test('counter: a gap in the log is a lost increment', () => {
    const problems = checkCounter([committed('w0-1', 1)], store([['w0-1', 1]], [[1, 'w0-1']], 2));
    assert.ok(
      problems.some((p) => p.includes('log/2 is missing')),
      problems.join('\n'),
    );
  });

  const elected = new Map([
    ['10', 'w0'],
    ['20', 'w1'],
  ]);
  const entry = (term: bigint, seq: number, worker: string, revision: bigint): FencedEntry => ({
    term,
    seq,
    worker,
    revision,
  });
  const fenced = (
    term: string,
    seq: number,
    worker: string,
    result: FencedReport['result'],
  ): FencedReport => ({
    term,
    seq,
    worker,
    result,
  });

  test('fencing: ordered, non-overlapping terms pass', () => {
    const entries = [entry(10n, 1, 'w0', 11n), entry(10n, 2, 'w0', 15n), entry(20n, 1, 'w1', 21n)];
    const reports = [
      fenced('10', 1, 'w0', 'committed'),
      fenced('10', 3, 'w0', 'rejected'),
      fenced('20', 1, 'w1', 'committed'),
    ];
    assert.deepEqual(checkFencing(reports, elected, entries), []);
  });

  test('fencing: an old leader writing after the next leader did is an overlap', () => {
    const entries = [entry(10n, 1, 'w0', 11n), entry(20n, 1, 'w1', 21n), entry(10n, 2, 'w0', 22n)];
    const problems = checkFencing([], elected, entries);
    assert.ok(
      problems.some((p) => p.includes('terms overlap')),
      problems.join('\n'),
    );
  });

  test('fencing: lost, phantom and foreign writes are caught', () => {
    const entries = [entry(10n, 2, 'w0', 12n), entry(20n, 1, 'w2', 21n)];
    const reports = [fenced('10', 1, 'w0', 'committed'), fenced('10', 2, 'w0', 'rejected')];
    const problems = checkFencing(reports, elected, entries);
    assert.ok(
      problems.some((p) => p.includes('10/1') && p.includes('not stored')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.includes('10/2') && p.includes('rejected but is stored')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.includes('won by w1')),
      problems.join('\n'),
    );
  });

  const guarded = (
    lock: GuardedEntry['lock'],
    token: bigint,
    seq: number,
    revision: bigint,
  ): GuardedEntry => ({
    key: `g/${lock}/${token}/${seq}`,
    lock,
    token,
    revision,
  });

  test('exclusion: permits within bound, readers sharing and writers alone pass', () => {
    const entries = [
      // Two permits held together, a third only after the first let go.
      guarded('semaphore', 1n, 1, 10n),
      guarded('semaphore', 2n, 1, 11n),
      guarded('semaphore', 1n, 2, 12n),
      guarded('semaphore', 3n, 1, 13n),
      guarded('semaphore', 2n, 2, 14n),
      // Two readers together, then a writer alone, then a reader.
      guarded('read', 5n, 1, 20n),
      guarded('read', 6n, 1, 21n),
      guarded('read', 5n, 2, 22n),
      guarded('write', 7n, 1, 23n),
      guarded('write', 7n, 2, 24n),
      guarded('read', 8n, 1, 25n),
    ];
    assert.deepEqual(checkExclusion([], entries, 2), []);
  });

  test('exclusion: a third permit holder and a writer overlapping a reader are caught', () => {
    const entries = [
      guarded('semaphore', 1n, 1, 10n),
      guarded('semaphore', 2n, 1, 11n),
      guarded('semaphore', 3n, 1, 12n),
      guarded('semaphore', 1n, 2, 13n),
      guarded('semaphore', 2n, 2, 14n),
      guarded('read', 5n, 1, 20n),
      guarded('write', 7n, 1, 21n),
      guarded('read', 5n, 2, 22n),
    ];
    const problems = checkExclusion(
      [{ worker: 'w0', lock: 'write', key: 'g/write/9/1', result: 'committed' }],
      entries,
      2,
    );
    assert.ok(
      problems.some((p) => p.includes('semaphore: 3 holders')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.includes('writer 7') && p.includes('reader 5')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.includes('g/write/9/1') && p.includes('not stored')),
      problems.join('\n'),
    );
  });

  test('views: expected values are built from the stored keys, differences are reported', () => {
    const instances = expectedInstances(
      [
        { key: 'services/s/w1', value: '{"address":"b:1"}', modRevision: 7n },
        { key: 'services/s/w0', value: '{"address":"a:1","meta":{}}', modRevision: 9n },
      ],
      'services/s/',
    );
    assert.deepEqual(instances, [
      { id: 'w0', address: 'a:1', key: 'services/s/w0', revision: '9' },
      { id: 'w1', address: 'b:1', key: 'services/s/w1', revision: '7' },
    ]);
    const config = expectedConfig(
      [
        { key: 'c/seq', value: '4' },
        { key: 'c/flags/f1', value: 'true' },
        { key: 'c/note', value: 'not json' },
      ],
      'c/',
    );
    assert.deepEqual(config, { seq: 4, flags: { f1: true }, note: 'not json' });
    assert.deepEqual(compareView('v', { seq: 4, flags: { f1: true }, note: 'not json' }, config), []);
    assert.equal(compareView('v', { seq: 3 }, config).length, 1);
  });

  test('schedule: a pure function of the seed, one member down at a time, every fault over in time', () => {
    const settings = { seed: 1234, durationMs: 120_000, members: 3, workers: 3, ttlSeconds: 5 };
    const schedule = makeSchedule(settings);
    assert.deepEqual(makeSchedule(settings), schedule);
    assert.notDeepEqual(makeSchedule({ ...settings, seed: 1235 }), schedule);
    const kinds = new Set(schedule.map((s) => s.fault.kind));
    for (const kind of [
      'kill-member',
      'kill-leader',
      'cut',
      'blackhole',
      'blackhole-path',
      'pause',
      'compact',
    ]) {
      assert.ok(kinds.has(kind as never), `a 120 s schedule has a ${kind}`);
    }
    let memberBackAt = 0;
    for (const { at, fault } of schedule) {
      if (fault.kind === 'kill-member' || fault.kind === 'kill-leader') {
        assert.ok(at >= memberBackAt, `a member kill at ${at} while another is down until ${memberBackAt}`);
        memberBackAt = at + fault.downMs;
        assert.ok(at + fault.downMs <= settings.durationMs);
      }
      if (fault.kind === 'pause') {
        assert.ok(
          fault.durationMs > settings.ttlSeconds * 1000 || at + fault.durationMs === settings.durationMs,
        );
      }
      if ('durationMs' in fault) assert.ok(at + fault.durationMs <= settings.durationMs);
    }
  });
});
