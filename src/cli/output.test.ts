import assert from 'node:assert/strict';
import { test } from 'node:test';
import { byteSize, duration, jsonLine, Screen, shown, storedValue } from './output.js';

test('jsonLine: one line, bigints as decimal strings', () => {
  assert.equal(
    jsonLine({ revision: 18446744073709551615n, n: 1 }),
    '{"revision":"18446744073709551615","n":1}\n',
  );
});

test('stored values: UTF-8 text, else base64; on a terminal escaped and cut', () => {
  assert.deepEqual(storedValue(Buffer.from('héllo')), { value: 'héllo' });
  assert.deepEqual(storedValue(Buffer.from([0xff, 0xfe])), { valueBase64: '//4=' });
  assert.equal(shown(Buffer.from('a\nb\u001b[2J')), 'a\\nb\\u001b[2J');
  assert.equal(shown(Buffer.from('x'.repeat(100)), 10), `${'x'.repeat(9)}…`);
  assert.equal(shown(Buffer.from([0xff])), '<1 bytes, not UTF-8>');
});

test('durations and sizes for people', () => {
  assert.deepEqual([850, 12_345, 245_000, 7_620_000, 273_600_000].map(duration), [
    '850ms',
    '12.3s',
    '4m05s',
    '2h07m',
    '3d04h',
  ]);
  assert.deepEqual([512, 1536, 5 * 1024 ** 3].map(byteSize), ['512 B', '1.5 KiB', '5.0 GiB']);
});

test('Screen: redraws over the previous block, cuts lines to the width and the block to the height', () => {
  const written: string[] = [];
  const screen = new Screen({ write: (t: string) => written.push(t), isTTY: true, columns: 20, rows: 5 });
  screen.draw(['one', 'two']);
  assert.equal(written[0], '\x1b[?25lone\ntwo\n');
  screen.draw(['x'.repeat(30), 'b', 'c', 'd', 'e', 'f']);
  assert.equal(written[1], `\x1b[2F\x1b[J${'x'.repeat(19)}…\nb\nc\n… 3 more\n`);
  screen.draw(['z']);
  assert.ok(written[2]!.startsWith('\x1b[4F\x1b[J'), 'goes back over the 4 lines drawn last');
  screen.end();
  assert.equal(written[3], '\x1b[?25h');
});
