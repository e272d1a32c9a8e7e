import { InvalidArgumentError } from '../errors.js';

/** etcd's default request size limit (--max-request-bytes): 1.5 MiB. */
export const MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
/** Bytes kept aside for the rest of a request (lease, headers, compare) when sizing key + value. */
const REQUEST_OVERHEAD = 512;

/**
 * Maps the keys callers name to the bytes stored in etcd and back, applying the Concord
 * namespace. Keys are UTF-8 strings on the caller's side.
 */
export class Keyspace {
  private readonly prefix: Buffer;

  constructor(namespace: string) {
    this.prefix = Buffer.from(namespace, 'utf8');
  }

  /** The etcd key for a caller key. */
  key(key: string): Buffer {
    return Buffer.concat([this.prefix, Buffer.from(key, 'utf8')]);
  }

  /** The etcd [key, range_end) pair covering every key that starts with `prefix`. */
  prefixRange(prefix: string): { key: Buffer; rangeEnd: Buffer } {
    const key = this.key(prefix);
    return { key, rangeEnd: prefixEnd(key) };
  }

  /** The caller key for an etcd key (the namespace stripped). */
  strip(etcdKey: Buffer): string {
    // Decoded in place: a subarray would allocate a Buffer per key (every key of a range read).
    return etcdKey.toString('utf8', this.prefix.length);
  }
}

/**
 * The smallest key greater than every key starting with `prefix` (etcd's range_end for a
 * prefix). An empty or all-0xff prefix yields `\0`, which etcd reads as "to the end".
 */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** Encodes a caller value for etcd. */
export function toBytes(value: string | Uint8Array): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
}

/**
 * Checks that a key and value fit in one etcd request. Throws {@link InvalidArgumentError}
 * naming `argument` otherwise.
 */
export function assertFits(argument: string, key: Buffer, value: Buffer = Buffer.alloc(0)): void {
  if (key.length + value.length + REQUEST_OVERHEAD > MAX_REQUEST_BYTES) {
    throw new InvalidArgumentError(
      argument,
      `must fit etcd's request size limit of ${MAX_REQUEST_BYTES} bytes together with its key`,
      value.length > 0 ? value : key,
    );
  }
}
