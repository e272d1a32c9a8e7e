// etcd's Txn RPC on the wire, for the one transaction concord sends on every handoff: a read of a
// range guarded by a key's create revision (a waiter's look at the queue, see queue/keys-ahead.ts).
//
// Wire format (etcd/api/etcdserverpb/rpc.proto), the fields written and read:
//   TxnRequest  { repeated Compare compare = 1; repeated RequestOp success = 2; }
//   Compare     { CompareResult result = 1 (EQUAL = 0); CompareTarget target = 2 (CREATE = 1);
//                 bytes key = 3; int64 create_revision = 5 (in a oneof: written even when 0); }
//   RequestOp   { RangeRequest request_range = 1; }
//   TxnResponse { ResponseHeader header = 1; bool succeeded = 2; repeated ResponseOp responses = 3; }
//   ResponseOp  { RangeResponse response_range = 1; }
// Unknown fields are skipped by wire type, so fields etcd adds later do no harm.

import {
  decodeHeaderRevision,
  decodeRangeResponse,
  type RangePage,
  type RangeRequest,
  rangeRequest,
} from './range.js';
import { BYTES, Reader, VARINT } from './reader.js';
import { Writer } from './writer.js';

const TARGET_CREATE = 1;

/** What a guarded read found: whether the guard held, and the range it read then (if it did). */
export interface GuardedRead {
  /** The revision the transaction ran at. */
  readonly revision: bigint;
  /** Whether `guard` existed with its create revision (the range was read only then). */
  readonly succeeded: boolean;
  readonly range: RangePage | undefined;
}

/** A TxnRequest that reads `range` only if `guard.key` exists with create revision `guard.createRevision`. */
export function encodeGuardedRead(
  guard: { key: Buffer; createRevision: bigint },
  range: RangeRequest,
): Buffer {
  // result EQUAL is the enum's default (0): left out, as protobuf encoders do.
  const compare = new Writer().varint(2, TARGET_CREATE).bytes(3, guard.key).varint(5, guard.createRevision);
  return new Writer()
    .message(1, compare)
    .message(2, new Writer().message(1, rangeRequest(range)))
    .finish();
}

/** Decodes the TxnResponse of {@link encodeGuardedRead}. Throws on malformed input. */
export function decodeGuardedRead(buf: Buffer): GuardedRead {
  const reader = new Reader(buf, 0, buf.length);
  let revision = 0n;
  let succeeded = false;
  let range: RangePage | undefined;
  while (reader.pos < reader.end) {
    const tag = reader.uint();
    const field = tag >>> 3;
    const wireType = tag & 7;
    if (field === 1 && wireType === BYTES) revision = decodeHeaderRevision(reader, reader.field());
    else if (field === 2 && wireType === VARINT) succeeded = reader.uint() !== 0;
    else if (field === 3 && wireType === BYTES) range ??= responseRange(reader, reader.field());
    else reader.skipField(wireType);
  }
  return { revision, succeeded, range };
}

/** The RangeResponse of the ResponseOp in [reader.pos, end), if it is one; the cursor ends at `end`. */
function responseRange(reader: Reader, end: number): RangePage | undefined {
  let range: RangePage | undefined;
  while (reader.pos < end) {
    const tag = reader.uint();
    if (tag >>> 3 === 1 && (tag & 7) === BYTES) range = decodeRangeResponse(reader.bytes());
    else reader.skipField(tag & 7);
  }
  if (reader.pos !== end) throw new Error('etcd response: a field overruns its message');
  return range;
}
