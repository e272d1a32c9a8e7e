import assert from 'node:assert/strict';
import { createServer as createH2Server, type Http2Server } from 'node:http2';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { H2Channel } from './channel.js';

// The channel's connection handling against a node:http2 server that answers late on purpose
// (etcd's answers are covered against real etcd in test/unary-transport.test.ts).

type Status = { code: number; details: string } | null;

/**
 * Starts a listener that accepts connections and hands them to `h2` only when `serve()` is called
 * (like a member that is still starting), and a channel to it with one call waiting; `between`
 * runs once the connection is accepted, before it is served. Resolves with the call's status.
 */
async function callServedLate(h2: Http2Server, between: (channel: H2Channel) => void): Promise<Status> {
  const held: Socket[] = [];
  const listener = createServer((socket) => held.push(socket));
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const { port } = listener.address() as AddressInfo;
  const channel = new H2Channel(`127.0.0.1:${port}`, undefined);
  try {
    const status = new Promise<Status>((resolve) =>
      channel.call('/etcdserverpb.KV/Range', Buffer.alloc(0), {}, Date.now() + 5_000, resolve),
    );
    while (held.length === 0) await sleep(5);
    between(channel);
    h2.emit('connection', held[0]);
    return await status;
  } finally {
    channel.close();
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => listener.close(resolve));
  }
}

test('a channel reset while its call waits for the handshake: the call fails as never sent when the server answers, nothing throws', async () => {
  const err = await callServedLate(createH2Server(), (channel) => channel.reset());
  assert.equal(err?.code, 14);
  assert.match(err.details, /^No connection established/);
});

test('a server that answers the handshake with a GOAWAY: the waiting call fails as never sent, nothing throws', async () => {
  const h2 = createH2Server();
  // Served only once the call waits: its SETTINGS and the GOAWAY reach the client together.
  h2.on('session', (session) => session.goaway());
  const err = await callServedLate(h2, () => undefined);
  assert.equal(err?.code, 14);
  assert.match(err.details, /^No connection established/);
});
