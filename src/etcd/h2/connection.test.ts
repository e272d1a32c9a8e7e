import assert from 'node:assert/strict';
import {
  constants,
  createServer,
  type Http2Server,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { H2Connection } from './connection.js';
import { encodeHeaders } from './hpack.js';

// The HTTP/2 client against node:http2's server (nghttp2): a second implementation of the protocol
// that uses Huffman coding, its dynamic table, padding and CONTINUATION frames as it likes.

interface Answer {
  headers: Array<[string, string]>[];
  body: Buffer;
  code: number;
  why: string;
}

async function serve(
  handle: (stream: ServerHttp2Stream, headers: Record<string, unknown>) => void,
  options: Parameters<typeof createServer>[0] = {},
): Promise<{ server: Http2Server; port: number; sessions: Set<ServerHttp2Session> }> {
  const server = createServer(options);
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (session) => sessions.add(session));
  server.on('stream', (stream, headers) => {
    // Streams this client resets or the test's GOAWAY refuses end with an error on the server.
    stream.on('error', () => undefined);
    handle(stream, headers);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, sessions };
}

function connectTo(port: number): Promise<H2Connection> {
  return new Promise((resolve, reject) => {
    const connection: H2Connection = new H2Connection(connect({ host: '127.0.0.1', port, noDelay: true }), {
      ready: () => resolve(connection),
      goaway: () => undefined,
      ended: (why) => reject(new Error(why)),
    });
  });
}

const block = (path: string, extra: Array<[string, string]> = []) =>
  encodeHeaders([[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', 'x'], ...extra]);

function ask(
  connection: H2Connection,
  path: string,
  body?: Buffer,
  extra?: Array<[string, string]>,
): Promise<Answer> {
  return new Promise((resolve) => {
    const headers: Array<[string, string]>[] = [];
    const chunks: Buffer[] = [];
    connection.request(
      block(path, extra),
      {
        headers: (fields) => headers.push(fields),
        data: (chunk) => chunks.push(chunk),
        closed: (code, why) => resolve({ headers, body: Buffer.concat(chunks), code, why }),
      },
      body ?? Buffer.alloc(0),
    );
  });
}

const field = (fields: Array<[string, string]> | undefined, name: string) =>
  fields?.find(([n]) => n === name)?.[1];

function echo(stream: ServerHttp2Stream): void {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('end', () => {
    stream.respond(
      { ':status': 200, 'x-length': String(Buffer.concat(chunks).length) },
      { waitForTrailers: true },
    );
    stream.on('wantTrailers', () =>
      stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'fine%20thanks' }),
    );
    stream.end(Buffer.concat(chunks));
  });
}

test('bodies far larger than every window go both ways whole, on many streams at once', async () => {
  // A 64 KiB window on the server's side (its default) and 16 KiB frames: the client must wait for
  // window updates to send, and widen its own windows as it reads.
  const { server, port } = await serve(echo);
  const connection = await connectTo(port);
  try {
    const bodies = [1, 70_000, 1_000_000, 5_000_000, 3].map((n, i) => Buffer.alloc(n, 97 + i));
    const answers = await Promise.all(bodies.map((body) => ask(connection, '/echo', body)));
    answers.forEach((answer, i) => {
      assert.equal(answer.code, 0, answer.why);
      assert.equal(answer.body.length, bodies[i]!.length);
      assert.ok(answer.body.equals(bodies[i]!));
      assert.equal(field(answer.headers[0], ':status'), '200');
      assert.equal(field(answer.headers[0], 'x-length'), String(bodies[i]!.length));
      assert.equal(field(answer.headers[1], 'grpc-message'), 'fine%20thanks');
    });
  } finally {
    connection.destroy();
    server.close();
  }
});

test('padded frames, CONTINUATION of a large header block, and a server limit of 2 open streams', async () => {
  const big = 'v'.repeat(40_000);
  const { server, port } = await serve(
    (stream) => {
      stream.on('data', () => undefined);
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'x-big': big });
        setTimeout(() => stream.end('done'), 5);
      });
    },
    { paddingStrategy: constants.PADDING_STRATEGY_MAX, settings: { maxConcurrentStreams: 2 } },
  );
  const connection = await connectTo(port);
  try {
    const answers = await Promise.all(
      Array.from({ length: 7 }, () => ask(connection, '/big', Buffer.from('x'))),
    );
    for (const answer of answers) {
      assert.equal(answer.code, 0, answer.why);
      assert.equal(field(answer.headers[0], 'x-big'), big);
      assert.equal(answer.body.toString(), 'done');
    }
  } finally {
    connection.destroy();
    server.close();
  }
});

test('a stream the server resets ends with its code; a GOAWAY refuses the streams after its last one', async () => {
  const { server, port, sessions } = await serve((stream, headers) => {
    if (headers[':path'] === '/reset') stream.close(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    else stream.on('data', () => undefined);
  });
  const connection = await connectTo(port);
  try {
    const reset = await ask(connection, '/reset');
    assert.equal(reset.code, constants.NGHTTP2_ENHANCE_YOUR_CALM);
    const pending = ask(connection, '/hang');
    await new Promise((resolve) => setTimeout(resolve, 20));
    // GOAWAY naming stream 1 as the last it took: stream 3 (pending) was not processed.
    for (const session of sessions) session.goaway(constants.NGHTTP2_NO_ERROR, 1);
    const refused = await pending;
    assert.equal(refused.code, constants.NGHTTP2_REFUSED_STREAM);
    assert.equal(connection.usable, false);
    assert.throws(() => connection.request(block('/late'), { headers() {}, data() {}, closed() {} }));
  } finally {
    connection.destroy();
    server.close();
  }
});

test('a server ping is answered; the connection ends every open stream when the socket goes', async () => {
  const { server, port, sessions } = await serve((stream) => stream.on('data', () => undefined));
  const sockets: Socket[] = [];
  server.on('connection', (socket: Socket) => sockets.push(socket));
  const connection = await connectTo(port);
  try {
    const rtt = await new Promise<number>((resolve, reject) => {
      const [session] = sessions;
      session!.ping((err, duration) => (err ? reject(err) : resolve(duration)));
    });
    assert.ok(rtt >= 0);
    const hanging = ask(connection, '/hang');
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (const socket of sockets) socket.destroy();
    const ended = await hanging;
    assert.equal(ended.code, -1);
    assert.equal(connection.ended, true);
  } finally {
    connection.destroy();
    server.close();
  }
});

test('a stream waiting for the server to allow one more sends what was written meanwhile once it opens; closing refuses the waiting ones', async () => {
  // The server ends the hanging streams itself: node's server counts a stream the client reset
  // as open until its own JavaScript has cleaned it up, and refuses (ENHANCE_YOUR_CALM) a new
  // stream that arrives in the same read as the reset, though HTTP/2 frees the slot at once.
  const hanging: ServerHttp2Stream[] = [];
  const { server, port } = await serve(
    (stream, headers) => (headers[':path'] === '/echo' ? echo(stream) : hanging.push(stream)),
    { settings: { maxConcurrentStreams: 1 } },
  );
  const connection = await connectTo(port);
  try {
    const chunks: Buffer[] = [];
    const closed = (into: (code: number) => void) => ({
      headers: () => undefined,
      data: (chunk: Buffer) => chunks.push(chunk),
      closed: into,
    });
    let hangingEnded!: (code: number) => void;
    connection.request(
      block('/hang'),
      closed((code) => hangingEnded(code)),
      Buffer.from('x'),
    );
    const hangingDone = new Promise<number>((resolve) => (hangingEnded = resolve));
    let echoed!: (code: number) => void;
    const echoDone = new Promise<number>((resolve) => (echoed = resolve));
    // Opened without a body, written and ended while it waits for the hanging stream's slot.
    const waiting = connection.request(
      block('/echo'),
      closed((code) => echoed(code)),
    );
    assert.equal(waiting.id, 0);
    waiting.write(Buffer.from('written '));
    waiting.end(Buffer.from('while waiting'));
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(hanging.length, 1);
    assert.equal(waiting.id, 0);
    hanging[0]!.close(constants.NGHTTP2_CANCEL);
    assert.equal(await hangingDone, constants.NGHTTP2_CANCEL);
    assert.equal(await echoDone, 0);
    assert.equal(Buffer.concat(chunks).toString(), 'written while waiting');
    // One open stream again, one waiting behind it: closing the connection refuses the waiting one.
    connection.request(
      block('/hang'),
      closed(() => undefined),
    );
    const refused = new Promise<number>((resolve) => connection.request(block('/echo'), closed(resolve)));
    connection.close();
    assert.equal(await refused, constants.NGHTTP2_REFUSED_STREAM);
  } finally {
    connection.destroy();
    server.close();
  }
});
