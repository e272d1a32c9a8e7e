// The protobuf writer against concord's reader: every varint width, bigint and negative values,
// bytes and nested messages.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BYTES, Reader, VARINT } from './reader.js';
import { Writer } from './writer.js';

test('varints round-trip at every width, as numbers and bigints; negatives take ten bytes', () => {
  const values: Array<[number | bigint, bigint]> = [
    [0, 0n],
    [1, 1n],
    [127, 127n],
    [128, 128n],
    [300, 300n],
    [2 ** 31, 2n ** 31n],
    [Number.MAX_SAFE_INTEGER, 2n ** 53n - 1n],
    [2n ** 53n + 1n, 2n ** 53n + 1n],
    [9223372036854775807n, 9223372036854775807n],
    [-1, -1n],
    [-6787890n, -6787890n],
  ];
  for (const [value, expected] of values) {
    const bytes = new Writer().varint(5, value).finish();
    const reader = new Reader(bytes, 0, bytes.length);
    assert.equal(reader.uint(), (5 << 3) | VARINT, `tag of ${value}`);
    assert.equal(reader.int64(), expected, `value ${value}`);
    assert.equal(reader.pos, bytes.length, `length of ${value}`);
    if (expected < 0n) assert.equal(bytes.length, 11, `a negative ${value} is ten bytes after its tag`);
  }
  assert.deepEqual([...new Writer().varint(1, true).varint(2, false).finish()], [8, 1, 16, 0]);
});

test('bytes, strings and nested messages are length-delimited, in the order written', () => {
  const inner = new Writer().bytes(1, 'ключ').varint(2, 7);
  const bytes = new Writer()
    .bytes(3, Buffer.from([0, 255]))
    .message(4, inner)
    .finish();
  const reader = new Reader(bytes, 0, bytes.length);
  assert.equal(reader.uint(), (3 << 3) | BYTES);
  assert.deepEqual([...reader.bytes()], [0, 255]);
  assert.equal(reader.uint(), (4 << 3) | BYTES);
  const end = reader.field();
  assert.equal(reader.uint(), (1 << 3) | BYTES);
  assert.equal(reader.bytes().toString(), 'ключ');
  assert.equal(reader.uint(), (2 << 3) | VARINT);
  assert.equal(reader.uint(), 7);
  assert.equal(reader.pos, end);
  assert.equal(end, bytes.length);
});
