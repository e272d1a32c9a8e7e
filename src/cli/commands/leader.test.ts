import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextLeaderState } from './leader.js';

const a = { key: 'election/e/a-1', value: 'a', term: 5n };
const b = { key: 'election/e/b-1', value: 'b', term: 9n };

test('initial, proclaimed, elected (ending the previous reign), vacant', () => {
  const initial = nextLeaderState(undefined, a, 1_000);
  assert.equal(initial.change, 'initial');
  assert.deepEqual(initial.current, { info: a, since: 1_000, sinceStart: true });

  const proclaimed = nextLeaderState(initial, { ...a, value: 'a2' }, 2_000);
  assert.equal(proclaimed.change, 'proclaimed');
  assert.deepEqual(proclaimed.current, { info: { ...a, value: 'a2' }, since: 1_000, sinceStart: true });
  assert.equal(proclaimed.ended, undefined);

  const elected = nextLeaderState(proclaimed, b, 5_000);
  assert.equal(elected.change, 'elected');
  assert.deepEqual(elected.ended, {
    info: { ...a, value: 'a2' },
    since: 1_000,
    sinceStart: true,
    until: 5_000,
  });
  assert.deepEqual(elected.current, { info: b, since: 5_000, sinceStart: false });

  const vacant = nextLeaderState(elected, undefined, 6_000);
  assert.equal(vacant.change, 'vacant');
  assert.equal(vacant.current, undefined);
  assert.deepEqual(
    vacant.history.map((r) => [r.info.value, r.until]),
    [
      ['b', 6_000],
      ['a2', 5_000],
    ],
  );
});

test('a new term of the same key is a new leadership', () => {
  const first = nextLeaderState(undefined, a, 0);
  assert.equal(nextLeaderState(first, { ...a, term: 6n }, 10).change, 'elected');
});
