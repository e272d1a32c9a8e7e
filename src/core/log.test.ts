import assert from 'node:assert/strict';
import { Console } from 'node:console';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { detectLoggerStyle, Log, type Logger } from './log.js';

/** A writable that keeps what is written to it. */
function sink(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

function pinoLines(text: string): Array<Record<string, unknown>> {
  return text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

test('a real pino logger gets (fields, message): every field arrives, secrets stay redacted', () => {
  const out = sink();
  const logger = pino({ level: 'debug' }, out.stream);
  const log = new Log(logger, ['hunter2']);
  log.warn('watch stream interrupted; resuming', { error: 'connect ECONNREFUSED', retryInMs: 50 });
  log.debug('auth with hunter2 failed', { password: 'hunter2', key: 'orders/1', leaseId: '7' });
  log.info('etcd connection connected');
  const [warn, debug, info] = pinoLines(out.text());
  assert.equal(warn?.msg, 'watch stream interrupted; resuming');
  assert.equal(warn?.error, 'connect ECONNREFUSED');
  assert.equal(warn?.retryInMs, 50);
  assert.equal(debug?.msg, 'auth with [redacted] failed');
  assert.equal(debug?.password, '[redacted]');
  assert.equal(debug?.key, 'orders/1');
  assert.equal(debug?.leaseId, '7');
  assert.equal(info?.msg, 'etcd connection connected');
  assert.doesNotMatch(out.text(), /hunter2/);
});

test('pino children and bunyan-shaped loggers are fields-first; console and plain objects message-first', () => {
  const logger = pino({ level: 'silent' });
  assert.equal(detectLoggerStyle(logger), 'fields-first');
  assert.equal(detectLoggerStyle(logger.child({ component: 'concord' })), 'fields-first');
  const bunyanLike = { fields: { name: 'app' }, streams: [], warn() {} };
  assert.equal(detectLoggerStyle(bunyanLike), 'fields-first');
  assert.equal(detectLoggerStyle(console), 'message-first');
  assert.equal(detectLoggerStyle({ warn() {} }), 'message-first');
});

test('console gets (message, fields), and a line without fields has no trailing undefined', () => {
  const out = sink();
  const logger = new Console({ stdout: out.stream, stderr: out.stream });
  const log = new Log(logger, []);
  log.info('etcd connection connected');
  log.warn('session lost', { leaseId: '42', reason: 'deadline passed', token: 'abc' });
  const lines = out.text().trim().split('\n');
  assert.equal(lines[0], 'etcd connection connected');
  assert.match(out.text(), /session lost \{/);
  assert.match(out.text(), /leaseId: '42'/);
  assert.match(out.text(), /reason: 'deadline passed'/);
  assert.match(out.text(), /token: '\[redacted\]'/);
  assert.doesNotMatch(out.text(), /undefined/);
});

test('an explicit style wins over detection (a wrapper around pino cannot be recognised)', () => {
  const out = sink();
  const inner = pino({ level: 'debug' }, out.stream);
  const wrapper: Logger = {
    warn: (...args: unknown[]) => Reflect.apply(inner.warn, inner, args),
  };
  new Log(wrapper, [], 'fields-first').warn('kept', { error: 'boom' });
  const [line] = pinoLines(out.text());
  assert.equal(line?.msg, 'kept');
  assert.equal(line?.error, 'boom');
});
