// The status area layout, the report format and the rollout tally, on plain data (no etcd involved).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidArgumentError } from '../errors.js';
import { standing, tally } from './rollout.js';
import { encodeReport, type InstanceReport, parseReport, type StatusEntry, statusArea } from './status.js';

describe('statusArea', () => {
  test('one key segment per prefix: no area inside another, none shared', () => {
    assert.equal(statusArea('app/'), 'config-status/app/');
    assert.equal(statusArea('app/db/'), 'config-status/app%2Fdb/');
    const prefixes = ['app/', 'app/db/', 'app//', 'app%2Fdb/', 'a/', 'ap/', 'app./', 'ü n/'];
    const areas = prefixes.map(statusArea);
    assert.equal(new Set(areas).size, prefixes.length);
    for (const a of areas) {
      assert.equal(a.slice('config-status/'.length, -1).includes('/'), false, a);
      for (const b of areas) if (a !== b) assert.ok(!b.startsWith(a), `${b} is inside ${a}`);
    }
  });

  test('a prefix that is not valid Unicode has no area', () => {
    assert.throws(() => statusArea('bad\ud800/'), InvalidArgumentError);
  });
});

describe('reports', () => {
  test('round-trip through their JSON; anything else is no report', () => {
    const reports: InstanceReport[] = [
      { status: 'applied', revision: 42n, at: '2025-01-01T00:00:00.000Z' },
      {
        status: 'rejected',
        revision: 43n,
        issues: ['db.pool: too big'],
        key: 'db/pool',
        applied: 42n,
        at: 'x',
      },
      { status: 'rejected', revision: 7n, issues: [], at: 'x' },
    ];
    for (const report of reports) assert.deepEqual(parseReport(encodeReport(report)), report);
    assert.equal(
      encodeReport(reports[0]!),
      '{"status":"applied","revision":"42","at":"2025-01-01T00:00:00.000Z"}',
    );
    for (const text of [
      '',
      'applied',
      '{}',
      '{"status":"applied","revision":42,"at":"x"}',
      '{"status":"odd","revision":"1","at":"x"}',
      '{"status":"rejected","revision":"1","at":"x"}',
    ]) {
      assert.equal(parseReport(text), undefined, text);
    }
  });
});

describe('rollout tally', () => {
  const applied = (revision: bigint): InstanceReport => ({ status: 'applied', revision, at: '' });
  const rejected = (revision: bigint, good?: bigint): InstanceReport => ({
    status: 'rejected',
    revision,
    issues: ['no'],
    ...(good === undefined ? {} : { applied: good }),
    at: '',
  });

  test('applying any revision at or after R counts as applying R', () => {
    assert.equal(standing(applied(10n), 10n), 'applied');
    assert.equal(standing(applied(12n), 10n), 'applied');
    assert.equal(standing(applied(9n), 10n), 'pending');
    // Rejected 12 while running 11: R = 11 is applied, R = 12 rejected, R = 13 not seen yet.
    assert.equal(standing(rejected(12n, 11n), 11n), 'applied');
    assert.equal(standing(rejected(12n, 11n), 12n), 'rejected');
    assert.equal(standing(rejected(12n, 11n), 13n), 'pending');
    assert.equal(standing(rejected(12n), 5n), 'rejected', 'invalid since its start');
  });

  test('lists instances sorted by id, with the issues of those that rejected; unreadable keys do not count', () => {
    const entry = (instance: string, report: InstanceReport | undefined): StatusEntry => ({
      instance,
      report,
      modRevision: 1n,
    });
    const status = tally(10n, [
      entry('c', applied(11n)),
      entry('a', applied(9n)),
      entry('b', rejected(10n, 8n)),
      entry('junk', undefined),
    ]);
    assert.deepEqual(status, {
      revision: 10n,
      applied: ['c'],
      rejected: [{ instance: 'b', revision: 10n, issues: ['no'] }],
      pending: ['a'],
    });
  });
});
