import assert from 'node:assert/strict';
import { test } from 'node:test';
import { framed, MessageReader, statusError, statusOf } from './wire.js';

const read = (reader: MessageReader, chunk: Buffer) => {
  const messages: string[] = [];
  const bad = reader.push(chunk, (bytes) => messages.push(bytes.toString()));
  return { messages, bad };
};

test('MessageReader: messages split anywhere across chunks come out whole and in order', () => {
  const body = Buffer.concat(['a', '', 'hello', 'x'.repeat(70_000)].map((m) => framed(Buffer.from(m))));
  for (const cut of [1, 3, 5, 6, 9, 17, 4_096]) {
    const reader = new MessageReader();
    const messages: string[] = [];
    for (let at = 0; at < body.length; at += cut) {
      const { messages: got, bad } = read(reader, body.subarray(at, at + cut));
      assert.equal(bad, undefined);
      messages.push(...got);
    }
    assert.deepEqual(messages, ['a', '', 'hello', 'x'.repeat(70_000)], `chunks of ${cut} bytes`);
    assert.equal(reader.partial, false);
  }
});

test('MessageReader: a cut-off message is reported as partial; a compressed one is refused', () => {
  const reader = new MessageReader();
  const frame = framed(Buffer.from('hello'));
  assert.deepEqual(read(reader, frame.subarray(0, 7)), { messages: [], bad: undefined });
  assert.equal(reader.partial, true);
  const compressed = Buffer.from(frame);
  compressed[0] = 1;
  assert.match(read(new MessageReader(), compressed).bad ?? '', /compressed/);
});

test('statusOf: grpc-status with its percent-encoded message; HTTP errors of a non-gRPC answer; nothing otherwise', () => {
  assert.deepEqual(
    statusOf([
      ['grpc-status', '9'],
      ['grpc-message', 'etcdserver%3A%20lease%20not%20found'],
    ]),
    {
      code: 9,
      details: 'etcdserver: lease not found',
    },
  );
  assert.deepEqual(
    statusOf([
      ['grpc-status', '2'],
      ['grpc-message', '100%'],
    ]),
    { code: 2, details: '100%' },
  );
  assert.deepEqual(statusOf([[':status', '503']]), { code: 14, details: 'HTTP 503' });
  assert.deepEqual(statusOf([[':status', '404']]), { code: 2, details: 'HTTP 404' });
  assert.equal(
    statusOf([
      [':status', '200'],
      ['content-type', 'application/grpc'],
    ]),
    undefined,
  );
  assert.equal(statusOf([]), undefined);
});

test('statusError: shaped as grpc-js shapes a failed call', () => {
  const err = statusError(14, 'No connection established (refused)', undefined);
  assert.equal(err.message, '14 UNAVAILABLE: No connection established (refused)');
  assert.equal(err.code, 14);
  assert.equal(err.details, 'No connection established (refused)');
});
