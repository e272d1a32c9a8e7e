// A decoder for etcd's WatchResponse straight from the protobuf wire bytes, giving what etcd3's
// generic decoder gives for the fields concord reads (same names, int64s as decimal strings,
// event types 'Put' / 'Delete'). etcd3's path (protobufjs decode, then toObject turning every
// int64 into a Long and then a string, and copying every bytes field) was the largest single cost
// between etcd sending an event and a subscriber seeing it; this one reads each field once.
//
// Wire format (etcd/api/etcdserverpb/rpc.proto, mvccpb/kv.proto), the fields read:
//   ResponseHeader { uint64 member_id = 2; int64 revision = 3; }
//   WatchResponse { ResponseHeader header = 1; int64 watch_id = 2; bool created = 3;
//                   bool canceled = 4; int64 compact_revision = 5; string cancel_reason = 6;
//                   bool fragment = 7; repeated Event events = 11; }
//   Event         { EventType type = 1 (PUT = 0, DELETE = 1); KeyValue kv = 2; KeyValue prev_kv = 3; }
//   KeyValue      { bytes key = 1; int64 create_revision = 2; int64 mod_revision = 3;
//                   int64 version = 4; bytes value = 5; int64 lease = 6; }
// Unknown fields are skipped by wire type, so fields etcd adds later do no harm.

import type { IEvent, IKeyValue, IWatchResponse } from 'etcd3';
import { BYTES, Reader, VARINT } from './reader.js';

/**
 * The fields of a WatchResponse concord reads, as etcd3 types them (each KeyValue's `key` is a
 * view into the response bytes); the header carries only `revision` and `member_id` (the member
 * that answered: progress answers are trusted only from the member the stream was opened on).
 */
export type WatchResponse = Pick<
  IWatchResponse,
  'watch_id' | 'created' | 'canceled' | 'compact_revision' | 'cancel_reason' | 'fragment' | 'events'
> & { header: Pick<IWatchResponse['header'], 'revision' | 'member_id'> };

/** Decodes a serialized WatchResponse. Throws on malformed input. */
export function decodeWatchResponse(buf: Buffer): WatchResponse {
  const reader = new Reader(buf, 0, buf.length);
  const res: WatchResponse = {
    header: { revision: '0', member_id: '0' },
    watch_id: '0',
    created: false,
    canceled: false,
    compact_revision: '0',
    cancel_reason: '',
    fragment: false,
    events: [],
  };
  while (reader.pos < reader.end) {
    const tag = reader.uint();
    const field = tag >>> 3;
    const wireType = tag & 7;
    if (wireType === VARINT && field >= 2 && field <= 7 && field !== 6) {
      if (field === 2) res.watch_id = int64Text(reader);
      else if (field === 5) res.compact_revision = int64Text(reader);
      else res[field === 3 ? 'created' : field === 4 ? 'canceled' : 'fragment'] = reader.uint() !== 0;
    } else if (wireType === BYTES && field === 11) {
      res.events.push(decodeEvent(reader, reader.field()));
    } else if (wireType === BYTES && field === 1) {
      decodeHeader(reader, reader.field(), res.header);
    } else if (wireType === BYTES && field === 6) {
      res.cancel_reason = reader.bytes().toString('utf8');
    } else {
      reader.skipField(wireType);
    }
  }
  return res;
}

/** The ResponseHeader in [reader.pos, end) into `header`; the cursor ends at `end`. */
function decodeHeader(reader: Reader, end: number, header: WatchResponse['header']): void {
  while (reader.pos < end) {
    const tag = reader.uint();
    const field = tag >>> 3;
    if ((tag & 7) !== VARINT || (field !== 2 && field !== 3)) reader.skipField(tag & 7);
    else if (field === 3) header.revision = int64Text(reader);
    else header.member_id = memberIdText(reader);
  }
  if (reader.pos !== end) throw new Error('etcd response: a field overruns its message');
}

/** The varint bytes of the member id decoded last, and its text. */
let lastMember: { bytes: Buffer; text: string } = { bytes: Buffer.alloc(0), text: '0' };

/**
 * A member id (uint64, as etcd3 gives it: random 64-bit numbers, often above 2^63) as decimal
 * text. Every response of a stream carries the same id, and its text takes a dozen bigint
 * operations (measured: 15 µs when the code is cold, as it is for a watch event now and then,
 * half of decoding one), so the text of the last id is kept and reused while its bytes match.
 */
function memberIdText(reader: Reader): string {
  const start = reader.pos;
  reader.uint();
  const { buf, pos } = reader;
  const { bytes } = lastMember;
  let same = bytes.length === pos - start;
  for (let i = 0; same && i < bytes.length; i++) same = buf[start + i] === bytes[i];
  if (same) return lastMember.text;
  reader.pos = start;
  const text = BigInt.asUintN(64, reader.int64()).toString();
  lastMember = { bytes: Buffer.from(buf.subarray(start, pos)), text };
  return text;
}

/** An int64 varint as decimal text, without a bigint when the number is exact as a double. */
function int64Text(reader: Reader): string {
  const start = reader.pos;
  const value = reader.uint();
  if (reader.pos - start <= 7) return String(value);
  reader.pos = start;
  return reader.int64().toString();
}

/** The Event in [reader.pos, end); the cursor ends at `end`. */
function decodeEvent(reader: Reader, end: number): IEvent {
  let type: IEvent['type'] = 'Put';
  let kv: IKeyValue | undefined;
  let prev: IKeyValue | undefined;
  while (reader.pos < end) {
    const tag = reader.uint();
    const field = tag >>> 3;
    const wireType = tag & 7;
    if (field === 1 && wireType === VARINT) type = reader.uint() === 1 ? 'Delete' : 'Put';
    else if (field === 2 && wireType === BYTES) kv = decodeKeyValue(reader, reader.field());
    else if (field === 3 && wireType === BYTES) prev = decodeKeyValue(reader, reader.field());
    else reader.skipField(wireType);
  }
  checkEnd(reader, end);
  // etcd3's decoder (defaults on) gives an empty KeyValue for a missing kv, and null for prev_kv.
  const event: IEvent = { type, kv: kv ?? emptyKeyValue(), prev_kv: prev ?? (null as unknown as IKeyValue) };
  return event;
}

function emptyKeyValue(): IKeyValue {
  return { key: EMPTY, value: EMPTY, create_revision: '0', mod_revision: '0', version: '0', lease: '0' };
}

/**
 * The KeyValue in [reader.pos, end); the cursor ends at `end`. The key is a view (every consumer
 * turns it into a string at once); the value is a copy, as etcd3 makes it, because views keep
 * the whole response (or network chunk) alive for as long as a view stores the value.
 */
function decodeKeyValue(reader: Reader, end: number): IKeyValue {
  const kv = emptyKeyValue();
  while (reader.pos < end) {
    const tag = reader.uint();
    const field = tag >>> 3;
    const wireType = tag & 7;
    if (wireType === BYTES && field === 1) kv.key = reader.bytes();
    else if (wireType === BYTES && field === 5) kv.value = Buffer.from(reader.bytes());
    else if (wireType === VARINT && field === 3) kv.mod_revision = int64Text(reader);
    else if (wireType === VARINT && field === 2) kv.create_revision = int64Text(reader);
    else if (wireType === VARINT && field === 4) kv.version = int64Text(reader);
    else if (wireType === VARINT && field === 6) kv.lease = int64Text(reader);
    else reader.skipField(wireType);
  }
  checkEnd(reader, end);
  return kv;
}

function checkEnd(reader: Reader, end: number): void {
  if (reader.pos !== end) throw new Error('watch response: a field overruns its message');
}

const EMPTY = Buffer.alloc(0);
