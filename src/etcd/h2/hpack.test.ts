import assert from 'node:assert/strict';
import { on, once } from 'node:events';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { encodeHeaders, HpackDecoder, HpackError } from './hpack.js';
import { huffmanDecode } from './huffman.js';

type Fields = Array<[string, string]>;

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');
/** Fields as `name: value`, the way the RFC's examples list them. */
const lines = (fields: Fields) => fields.map(([name, value]) => `${name}: ${value}`);

/** The dynamic table, newest first, read with indexed fields 62, 63, ... up to the first that misses. */
function tableOf(decoder: HpackDecoder): string[] {
  const entries: string[] = [];
  for (let index = 62; index < 254; index++) {
    try {
      entries.push(...lines(decoder.decode(Buffer.from(index < 127 ? [0x80 | index] : [0xff, index - 127]))));
    } catch (error) {
      assert.ok(error instanceof HpackError);
      break;
    }
  }
  return entries;
}

/** `bits` (a string of 0 and 1) padded with ones to whole octets, as §5.2 pads a Huffman-coded string. */
function huffmanBytes(bits: string): Buffer {
  const padded = bits + '1'.repeat((8 - (bits.length % 8)) % 8);
  return Buffer.from(padded.match(/.{8}/g)!.map((octet) => Number.parseInt(octet, 2)));
}

test('Huffman: the canonical codes built from the lengths are those of RFC 7541 Appendix B', () => {
  // biome-ignore format: symbol, code and length as the RFC's table prints them; '0', 'a', ' ', '%', ':', 'A' first
  const rfc = [
    [0x30, 0x0, 5], [0x61, 0x3, 5], [0x20, 0x14, 6], [0x25, 0x15, 6], [0x3a, 0x5c, 7], [0x41, 0x21, 6],
    [0x00, 0x1ff8, 13], [0x0a, 0x3ffffffc, 30], [0x5c, 0x7fff0, 19], [0x7f, 0xffffffc, 28], [0x80, 0xfffe6, 20],
    [0xff, 0x3ffffee, 26],
  ] as const;
  for (const [symbol, code, length] of rfc) {
    const bits = code.toString(2).padStart(length, '0');
    assert.equal(huffmanDecode(huffmanBytes(bits)), String.fromCharCode(symbol), `symbol ${symbol}`);
    // Two in a row, so that the second one starts in the middle of an octet.
    assert.equal(huffmanDecode(huffmanBytes(bits + bits)), String.fromCharCode(symbol, symbol));
  }
  // EOS, 0x3fffffff on 30 bits, is a code too but may not appear in a string; 24 ones are only padding.
  assert.throws(() => huffmanDecode(huffmanBytes('1'.repeat(30))), /^HpackError: .*EOS/);
  assert.throws(() => huffmanDecode(huffmanBytes('1'.repeat(24))), /^HpackError: .*padding/);
  assert.equal(huffmanDecode(Buffer.alloc(0)), '');
  // A string too long for the decoder's reused output space.
  assert.equal(huffmanDecode(huffmanBytes('00011'.repeat(4000))), 'a'.repeat(4000));
});

const AUTHORITY = ':authority: www.example.com';
const REQUEST_FIELDS = [
  [':method: GET', ':scheme: http', ':path: /', AUTHORITY],
  [':method: GET', ':scheme: http', ':path: /', AUTHORITY, 'cache-control: no-cache'],
  [':method: GET', ':scheme: https', ':path: /index.html', AUTHORITY, 'custom-key: custom-value'],
];
const REQUEST_TABLES = [
  [AUTHORITY],
  ['cache-control: no-cache', AUTHORITY],
  ['custom-key: custom-value', 'cache-control: no-cache', AUTHORITY],
];
const [DATE_1, DATE_2] = ['date: Mon, 21 Oct 2013 20:13:21 GMT', 'date: Mon, 21 Oct 2013 20:13:22 GMT'];
const LOCATION = 'location: https://www.example.com';
const COOKIE = 'set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RESPONSE_FIELDS = [
  [':status: 302', 'cache-control: private', DATE_1, LOCATION],
  [':status: 307', 'cache-control: private', DATE_1, LOCATION],
  [':status: 200', 'cache-control: private', DATE_2, LOCATION, 'content-encoding: gzip', COOKIE],
];
const RESPONSE_TABLES = [
  [LOCATION, DATE_1, 'cache-control: private', ':status: 302'],
  // ':status: 302' is evicted to make room for ':status: 307'.
  [':status: 307', LOCATION, DATE_1, 'cache-control: private'],
  // Four evictions, two of them of entries (cache-control, location) the block referred to before.
  [COOKIE, 'content-encoding: gzip', DATE_2],
];

// The header blocks of RFC 7541 C.3 to C.6, one connection each, '|' between blocks.
const C3 = `8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d | 8286 84be 5808 6e6f 2d63 6163 6865
  | 8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65`;
const C4 = `8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff | 8286 84be 5886 a8eb 1064 9cbf
  | 8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf`;
const C5 = `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a
  3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d
  | 4803 3330 37c1 c0bf
  | 88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a
  6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d
  6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31`;
const C6 = `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e
  919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3
  | 4883 640e ffc1 c0bf
  | 88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d
  d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106
  3d50 07`;
// Title, table size, blocks, and the fields of each block and the table after it.
const EXAMPLES: Array<[string, number, string, string[][], string[][]]> = [
  ['C.3: requests without Huffman coding', 4096, C3, REQUEST_FIELDS, REQUEST_TABLES],
  ['C.4: requests with Huffman coding', 4096, C4, REQUEST_FIELDS, REQUEST_TABLES],
  ['C.5: responses without Huffman coding, 256-octet table', 256, C5, RESPONSE_FIELDS, RESPONSE_TABLES],
  ['C.6: responses with Huffman coding, 256-octet table', 256, C6, RESPONSE_FIELDS, RESPONSE_TABLES],
];

for (const [title, tableSize, blocks, fields, tables] of EXAMPLES) {
  test(`RFC 7541 ${title}`, () => {
    const decoder = new HpackDecoder(tableSize);
    blocks.split('|').forEach((block, at) => {
      assert.deepEqual(lines(decoder.decode(hex(block))), fields[at], `block ${at + 1}`);
      assert.deepEqual(tableOf(decoder), tables[at], `table after block ${at + 1}`);
    });
  });
}

test('decoder: never-indexed literals, size updates at the start of a block, an entry larger than the table', () => {
  const decoder = new HpackDecoder();
  // C.2.3: a never-indexed literal with a literal name leaves the table as it is.
  assert.deepEqual(lines(decoder.decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74'))), [
    'password: secret',
  ]);
  assert.deepEqual(tableOf(decoder), []);
  decoder.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
  assert.deepEqual(tableOf(decoder), ['custom-key: custom-header']);
  // Two updates (to 0, which empties the table, then back up to 4096) before the fields.
  assert.deepEqual(decoder.decode(hex('20 3fe1 1f 82')), [[':method', 'GET']]);
  assert.deepEqual(tableOf(decoder), []);
  // Down to 64 octets, which hold one entry of 10 + 4 + 32 octets.
  decoder.decode(hex('3f21 4104 7878 7878'));
  assert.deepEqual(tableOf(decoder), [':authority: xxxx']);
  // 10 + 30 + 32 octets do not fit: the entry empties the table and is not added (§4.4).
  assert.equal(decoder.decode(hex(`411e ${'78'.repeat(30)} 82`)).length, 2);
  assert.deepEqual(tableOf(decoder), []);
});

test('decoder: a table of many small entries wraps its ring and grows', () => {
  const decoder = new HpackDecoder();
  for (let n = 1000; n < 1300; n++) decoder.decode(Buffer.concat([hex('4105'), Buffer.from(`v${n}`)]));
  // Entries of 10 + 5 + 32 octets (`:authority`, `vNNNN`): 4096 octets hold the newest 87.
  const table = tableOf(decoder);
  assert.deepEqual([table.length, table[0], table.at(-1)], [87, ':authority: v1299', ':authority: v1213']);
});

test('decoder: blocks that break the rules throw HpackError', () => {
  // What is wrong, the block, what the message must say, and the advertised maximum when not 4096.
  const cases: Array<[string, string, RegExp, number?]> = [
    ['index 0', '80', /index 0 /],
    ['index past an empty dynamic table', 'be', /index 62 is past the 61 /],
    ['indexed name past the table', '7f 00 01 61', /index 63 is past/],
    ['size update above the advertised maximum', '3f e2 1f', /4097 exceeds 4096/],
    ['size update above a smaller maximum', '3f 22', /65 exceeds 64/, 64],
    ['size update after a field', '82 20', /after a header field/],
    ['Huffman string containing EOS', '04 84 ffff ffff', /EOS/],
    ['Huffman padding of 8 bits', '04 82 f8ff', /padding/], // '&' is 8 bits long: 0xf8
    ['Huffman padding of 11 bits', '04 82 1fff', /padding/],
    ['Huffman padding with a zero bit', '04 81 1e', /padding/],
    ['integer cut off', 'ff', /inside an integer/],
    ['integer cut off after a continuation octet', 'ff 80', /inside an integer/],
    ['integer above 2^31', 'ff 82 80 80 80 08', /exceeds 2\^31/], // 127 + 2 + 2^31
    ['integer with six continuation octets', 'ff 80 80 80 80 80 00', /continuation/],
    ['string longer than the block', '04 05 61', /past the end/],
    ['value missing', '04', /inside a field/],
    ['literal name cut off', '00 03 6162', /past the end/],
  ];
  for (const [what, block, message, maxTableSize] of cases) {
    const decode = () => new HpackDecoder(maxTableSize).decode(hex(block));
    assert.throws(decode, (error) => error instanceof HpackError && message.test(error.message), what);
  }
  // Just inside the limits: 2^31 is an integer (an index past the table), the maximum is a size, and 7 bits
  // are padding ('a' is 00011).
  assert.throws(() => new HpackDecoder().decode(hex('ff 81 ff ff ff 07')), /index 2147483648 is past/);
  assert.deepEqual(new HpackDecoder().decode(hex('3f e1 1f')), []);
  assert.deepEqual(new HpackDecoder().decode(hex('04 81 1f')), [[':path', 'a']]);
});

test('encodeHeaders: static indices only, no Huffman; the decoder reads it back and adds nothing to its table', () => {
  const fields: Fields = [
    [':method', 'POST'],
    [':path', '/a'],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
    ['x', 'y'.repeat(130)],
    ['accept-encoding', 'gzip, deflate'],
    ['x-latin1', '\u00e9\u00ff\u0080'],
    ['user-agent', ''],
  ];
  const block = encodeHeaders(fields);
  const expected = [
    [0x83], // :method POST is static entry 3
    [0x04, 2, ...Buffer.from('/a')], // :path is 4, within the 4-bit prefix
    [0x0f, 31 - 15, 16, ...Buffer.from('application/grpc')], // content-type is 31, past the prefix's 15
    [0x00, 2, ...Buffer.from('te'), 8, ...Buffer.from('trailers')], // no static name
    [0x00, 1, 0x78, 0x7f, 130 - 127, ...Buffer.from('y'.repeat(130))], // a length past the 7-bit prefix
    [0x80 | 16],
    [0x00, 8, ...Buffer.from('x-latin1'), 3, 0xe9, 0xff, 0x80],
    [0x80 | 58], // user-agent with the empty value of its static entry
  ].flat();
  assert.deepEqual([...block], expected);
  const decoder = new HpackDecoder();
  assert.deepEqual(decoder.decode(block), fields);
  assert.deepEqual(tableOf(decoder), []);
  assert.deepEqual(encodeHeaders([]), Buffer.alloc(0));
});

type Frame = { type: number; flags: number; stream: number; payload: Buffer };

// RFC 7540 §6: frame types, then flags.
const [DATA, HEADERS, RST_STREAM, SETTINGS, GOAWAY, CONTINUATION] = [0x0, 0x1, 0x3, 0x4, 0x7, 0x9];
const [END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY] = [0x1, 0x1, 0x4, 0x8, 0x20];

function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.from([0, 0, 0, type, flags, 0, 0, 0, 0]);
  header.writeUIntBE(payload.length, 0, 3);
  header.writeUInt32BE(stream, 5);
  return Buffer.concat([header, payload]);
}

/** The frames `socket` receives (RFC 7540 §4.1), whole and in order. */
async function* framesOf(socket: net.Socket): AsyncGenerator<Frame> {
  let pending = Buffer.alloc(0);
  for await (const [chunk] of on(socket, 'data') as AsyncIterable<[Buffer]>) {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 9 && pending.length >= 9 + pending.readUIntBE(0, 3)) {
      const end = 9 + pending.readUIntBE(0, 3);
      const stream = pending.readUInt32BE(5) & 0x7fffffff;
      yield { type: pending[3]!, flags: pending[4]!, stream, payload: pending.subarray(9, end) };
      pending = pending.subarray(end);
    }
  }
}

/** A HEADERS frame's header block fragment, without its padding and priority fields. */
function fragmentOf({ flags, payload }: Frame): Buffer {
  const padding = (flags & PADDED) !== 0 ? payload[0]! : 0;
  const start = ((flags & PADDED) !== 0 ? 1 : 0) + ((flags & PRIORITY) !== 0 ? 5 : 0);
  return payload.subarray(start, payload.length - padding);
}

/** Reads until `stream` ends, answering SETTINGS; returns its header blocks (headers, trailers) as received. */
async function headerBlocks(frames: AsyncGenerator<Frame>, socket: net.Socket, stream: number) {
  const blocks: Buffer[] = [];
  let fragments: Buffer[] = [];
  for (;;) {
    const { value: got, done } = await frames.next();
    assert.ok(!done, 'connection closed');
    assert.notEqual(got.type, GOAWAY, `GOAWAY ${got.payload.toString('hex')}`);
    if (got.type === SETTINGS && (got.flags & ACK) === 0) socket.write(frame(SETTINGS, ACK, 0));
    if (got.stream !== stream) continue;
    assert.notEqual(got.type, RST_STREAM, `RST_STREAM ${got.payload.toString('hex')} on stream ${stream}`);
    if (got.type === HEADERS) fragments = [fragmentOf(got)];
    if (got.type === CONTINUATION) fragments.push(got.payload);
    if ((got.type === HEADERS || got.type === CONTINUATION) && (got.flags & END_HEADERS) !== 0) {
      blocks.push(Buffer.concat(fragments));
    }
    if ((got.type === HEADERS || got.type === DATA) && (got.flags & END_STREAM) !== 0) return blocks;
  }
}

const PRINTABLE = Array.from({ length: 0x7f - 0x20 }, (_, at) => String.fromCharCode(0x20 + at)).join('');
const HIGH_LATIN1 = Array.from({ length: 0x80 }, (_, at) => String.fromCharCode(0x80 + at)).join('');
// Enough lower-case letters that Huffman coding the whole value is shorter than sending it plain.
const LATIN1_VALUE = 'e'.repeat(1000) + HIGH_LATIN1;
// Every :status of the static table: nghttp2 sends each as its static index.
const STATUSES = ['200', '204', '206', '304', '400', '404', '500'];
const BODILESS = new Set(['204', '304']);

function responseFor(n: number): Fields {
  return [
    [':status', STATUSES[n]!],
    ['content-type', 'application/grpc'],
    ['date', 'Thu, 01 Jan 1970 00:00:00 GMT'],
    ['x-printable', `${'e'.repeat(200)}<${PRINTABLE}>`],
    ['x-latin1', LATIN1_VALUE],
    ['x-same', 'the same value each time'],
    ['x-request', `request ${n} caf\u00e9`],
  ];
}

function trailersFor(n: number): Fields {
  return [
    ['grpc-status', '0'],
    ['grpc-message', `all ok: ${PRINTABLE.trim()} #${n}`],
    ['x-high', HIGH_LATIN1.slice(n * 10, n * 10 + 20)],
  ];
}

/** Entries 1..61 as the decoder's static table has them, read with one indexed field each. */
const STATIC = new HpackDecoder().decode(Buffer.from(Array.from({ length: 61 }, (_, at) => 0x81 + at)));

/** Every static entry but `:status` (and `transfer-encoding`, malformed in a request), so nghttp2 checks them. */
function requestFor(n: number): Fields {
  const odd = n % 2 === 1;
  const fields: Fields = [
    [':method', odd ? 'POST' : 'GET'],
    [':scheme', odd ? 'https' : 'http'],
    [':path', ['/x', '/', '/index.html'][n % 3]!],
    [':authority', '127.0.0.1'],
  ];
  // Static values on even requests, others on odd ones; these two are checked, so always valid.
  const checked: Record<string, string> = { 'content-length': '0', host: '127.0.0.1' };
  for (const [name, value] of STATIC.slice(14)) {
    if (name !== 'transfer-encoding') fields.push([name, checked[name] ?? (odd ? `${value}x` : value)]);
  }
  return fields;
}

/** A node:http2 server answering request `n` with `responseFor(n)`, a body and `trailersFor(n)`. */
async function serve() {
  const requests: Fields[] = [];
  const server = http2.createServer();
  // Node passes the fields as received, in order, as a fourth argument its typings leave out.
  const onStream = (stream: http2.ServerHttp2Stream, _: unknown, __: unknown, raw: readonly string[]) => {
    const n = requests.push(raw.flatMap((name, at) => (at % 2 === 0 ? [[name, raw[at + 1]!]] : []))) - 1;
    if (BODILESS.has(STATUSES[n]!)) {
      stream.respond(Object.fromEntries(responseFor(n)), { endStream: true });
      return;
    }
    stream.respond(Object.fromEntries(responseFor(n)), { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers(Object.fromEntries(trailersFor(n))));
    stream.end('body');
  };
  server.on('stream', onStream);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, requests, port: (server.address() as AddressInfo).port };
}

/** Connects to `port`, makes the requests one after the other, and returns each one's header blocks. */
async function exchange(port: number): Promise<Buffer[][]> {
  const socket = net.connect(port, '127.0.0.1');
  try {
    await once(socket, 'connect');
    // A stalled exchange fails the test through the frame reader instead of leaving the server up.
    socket.setTimeout(5_000, () => socket.destroy(new Error('no answer from the server')));
    const frames = framesOf(socket);
    socket.write(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
    socket.write(frame(SETTINGS, 0, 0));
    const blocks: Buffer[][] = [];
    for (let n = 0; n < STATUSES.length; n++) {
      socket.write(frame(HEADERS, END_STREAM | END_HEADERS, 1 + 2 * n, encodeHeaders(requestFor(n))));
      blocks.push(await headerBlocks(frames, socket, 1 + 2 * n));
    }
    return blocks;
  } finally {
    socket.destroy();
  }
}

test('interop: nghttp2 (node:http2) reads encodeHeaders blocks; its Huffman-coded, indexed blocks decode', {
  timeout: 20_000,
}, async () => {
  const { server, requests, port } = await serve();
  const blocks = await exchange(port).finally(() => new Promise((closed) => server.close(closed)));
  const decoder = new HpackDecoder();
  blocks.forEach((received, n) => {
    assert.deepEqual(requests[n], requestFor(n), `request ${n} as nghttp2 read it`);
    const expected = BODILESS.has(STATUSES[n]!) ? [responseFor(n)] : [responseFor(n), trailersFor(n)];
    assert.deepEqual(
      received.map((block) => decoder.decode(block)),
      expected,
      `response ${n}`,
    );
  });
  // Huffman coding: the first response is shorter than its strings' octets.
  const octets = responseFor(0).reduce((sum, [name, value]) => sum + name.length + value.length, 0);
  assert.ok(blocks[0]![0]!.length < octets, `${blocks[0]![0]!.length} < ${octets}`);
  // The dynamic table: later responses refer to the fields the first one added, x-printable among them.
  assert.ok(blocks[1]![0]!.length < blocks[0]![0]!.length - 200, `${blocks[1]![0]!.length}`);
  assert.ok(blocks[2]![1]!.length < blocks[0]![1]!.length, `${blocks[2]![1]!.length}`);
});
