// Writing protobuf wire bytes (https://protobuf.dev/programming-guides/encoding/): the requests
// concord encodes itself instead of going through protobufjs's object conversion (see
// raw-call.ts for why).

import { BYTES, VARINT } from './reader.js';

/**
 * One protobuf message, built field by field. It writes every field it is given, in the order
 * given (a decoder accepts any order and explicit defaults); leaving out fields at their default
 * is the caller's choice, as proto3 encoders do.
 */
export class Writer {
  readonly #bytes: number[] = [];

  /** A varint field: an integer (int64, uint64, int32, enum) or a bool. Negative integers take ten bytes. */
  varint(field: number, value: number | bigint | boolean): this {
    this.#uint((field << 3) | VARINT);
    if (typeof value === 'boolean') this.#bytes.push(value ? 1 : 0);
    else if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) this.#uint(value);
    else this.#uint64(BigInt.asUintN(64, BigInt(value)));
    return this;
  }

  /** A length-delimited field: bytes (or a string's UTF-8). */
  bytes(field: number, value: Uint8Array | string): this {
    const bytes = typeof value === 'string' ? Buffer.from(value) : value;
    this.#uint((field << 3) | BYTES);
    this.#uint(bytes.length);
    for (let i = 0; i < bytes.length; i++) this.#bytes.push(bytes[i]!);
    return this;
  }

  /** A varint without a tag: an element of a packed repeated field (see {@link bytes}). */
  rawVarint(value: number): this {
    this.#uint(value);
    return this;
  }

  /** An embedded message field. */
  message(field: number, message: Writer): this {
    return this.bytes(field, message.finish());
  }

  /** The message's bytes. */
  finish(): Buffer {
    return Buffer.from(this.#bytes);
  }

  /** A varint below 2^53 in float arithmetic (exact there, and cheaper than bigint). */
  #uint(value: number): void {
    let rest = value;
    while (rest >= 0x80) {
      this.#bytes.push((rest % 0x80) | 0x80);
      rest = Math.floor(rest / 0x80);
    }
    this.#bytes.push(rest);
  }

  #uint64(value: bigint): void {
    let rest = value;
    while (rest >= 0x80n) {
      this.#bytes.push(Number(rest & 0x7fn) | 0x80);
      rest >>= 7n;
    }
    this.#bytes.push(Number(rest));
  }
}
