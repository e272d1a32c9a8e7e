// etcd's WatchRequest on the wire, as concord writes it on its watch stream (creates, cancels and
// progress requests). Encoded by hand rather than by protobufjs: a release cancels its own-key
// watch right before the write that hands the key on, and protobufjs's `fromObject` + `encode`
// of that cancel, cold, was a tenth of a millisecond on the handoff's path.
//
// Wire format (etcd/api/etcdserverpb/rpc.proto):
//   WatchRequest       { oneof request_union { WatchCreateRequest create_request = 1;
//                        WatchCancelRequest cancel_request = 2; WatchProgressRequest progress_request = 3; } }
//   WatchCreateRequest { bytes key = 1; bytes range_end = 2; int64 start_revision = 3;
//                        bool progress_notify = 4; repeated FilterType filters = 5 (packed;
//                        NOPUT = 0, NODELETE = 1); bool prev_kv = 6; int64 watch_id = 7; bool fragment = 8; }
//   WatchCancelRequest { int64 watch_id = 1; }
//   WatchProgressRequest {}
// A message in a oneof is written even when empty: its presence is the request.

import type { IWatchCreateRequest, IWatchRequest } from 'etcd3';
import { Writer } from './writer.js';

const FILTERS: Record<string, number> = { Noput: 0, Nodelete: 1 };

/** The WatchRequest message of `request` (etcd3's request type; exactly one of its requests set). */
export function encodeWatchRequest(request: IWatchRequest): Buffer {
  const message = new Writer();
  if (request.create_request) message.message(1, createRequest(request.create_request));
  else if (request.cancel_request) {
    const id = request.cancel_request.watch_id;
    message.message(
      2,
      id === undefined || String(id) === '0' ? new Writer() : new Writer().varint(1, BigInt(id)),
    );
  } else if (request.progress_request) message.message(3, new Writer());
  return message.finish();
}

function createRequest(create: IWatchCreateRequest): Writer {
  const message = new Writer();
  if (create.key?.length) message.bytes(1, create.key);
  if (create.range_end?.length) message.bytes(2, create.range_end);
  if (create.start_revision !== undefined && String(create.start_revision) !== '0') {
    message.varint(3, BigInt(create.start_revision));
  }
  if (create.progress_notify) message.varint(4, true);
  if (create.filters?.length) {
    const packed = new Writer();
    for (const filter of create.filters)
      packed.rawVarint(typeof filter === 'number' ? filter : FILTERS[filter]!);
    message.bytes(5, packed.finish());
  }
  if (create.prev_kv) message.varint(6, true);
  if (create.watch_id !== undefined && String(create.watch_id) !== '0')
    message.varint(7, BigInt(create.watch_id));
  if (create.fragment) message.varint(8, true);
  return message;
}
