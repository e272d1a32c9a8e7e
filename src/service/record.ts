// The instance record, written by the registry and read by discovery: the key is
// `<prefix><service>/<id>`, the value JSON `{ address, meta?, registeredAt, status? }` (discovery
// also reads etcd Go `endpoints` JSON and plain addresses, which are always serving).

import { checkOptions, isPlainObject } from '../core/validate.js';
import { InvalidArgumentError } from '../errors.js';
import type { SharedValues } from './shared-values.js';
import type { InstanceStatus, ServiceInstance, ServicePrefixOptions } from './types.js';

/** The prefix `concord.registry()` and `concord.discovery()` use when given none. */
export const DEFAULT_SERVICE_PREFIX = 'services/';

/** The value the registry stores at an instance key. */
export interface InstanceRecord {
  address: string;
  meta?: Record<string, unknown>;
  /** When the instance was (re-)registered, ISO 8601. */
  registeredAt: string;
  /**
   * Written only once the instance drains: a serving record has no status, so it reads the same
   * as before draining existed (and older readers, which ignore the field, still find it).
   */
  status?: 'draining';
}

/** A record as discovery reads it: values written by other clients may lack `registeredAt`. */
interface ReadRecord {
  address: string;
  meta?: Record<string, unknown>;
  registeredAt?: string;
  status: InstanceStatus;
}

/** Longest address accepted, in characters: far above any real host:port or URL, low enough to reject blobs. */
const MAX_ADDRESS_LENGTH = 2048;

/** Decodes values; `fatal`, so bytes that are not UTF-8 are rejected rather than replaced. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Validates `options.prefix` and returns it with its default applied. */
export function servicePrefix(options: ServicePrefixOptions | undefined): string {
  checkOptions('options', options, ['prefix']);
  const prefix = options?.prefix ?? DEFAULT_SERVICE_PREFIX;
  if (typeof prefix !== 'string' || (prefix !== '' && !prefix.endsWith('/'))) {
    throw new InvalidArgumentError(
      'options.prefix',
      "must be a string that is empty or ends with '/'",
      prefix,
    );
  }
  return prefix;
}

/** A record registered now. */
export function newRecord(address: string, meta: Record<string, unknown> | undefined): InstanceRecord {
  const record: InstanceRecord = { address, registeredAt: new Date().toISOString() };
  if (meta !== undefined) record.meta = meta;
  return record;
}

/** `record` registered again now (a draining record stays draining). */
export function restamped(record: InstanceRecord): InstanceRecord {
  return { ...record, registeredAt: new Date().toISOString() };
}

/** `record` marked draining. */
export function drained(record: InstanceRecord): InstanceRecord {
  return { ...record, status: 'draining' };
}

/** The bytes stored at the instance key. */
export function encodeRecord(record: InstanceRecord): Buffer {
  return Buffer.from(JSON.stringify(record), 'utf8');
}

/** Throws {@link InvalidArgumentError} unless `address` is a string {@link isAddress} accepts. */
export function checkAddress(argument: string, address: unknown): asserts address is string {
  if (typeof address !== 'string' || !isAddress(address)) {
    throw new InvalidArgumentError(
      argument,
      'must be a non-empty address of at most 2048 characters without whitespace, control characters or {}",',
      address,
    );
  }
}

/** Throws {@link InvalidArgumentError} unless `meta` is undefined or a plain object that survives a JSON round trip. */
export function checkMeta(argument: string, meta: unknown): void {
  if (meta === undefined) return;
  if (!isPlainObject(meta)) throw new InvalidArgumentError(argument, 'must be an object', meta);
  let json: string | undefined;
  try {
    json = JSON.stringify(meta);
  } catch {
    json = undefined;
  }
  // A round trip must give back an object, or discovery would read something else than was given.
  if (json === undefined || !isPlainObject(JSON.parse(json))) {
    throw new InvalidArgumentError(argument, 'must be JSON-serializable (no cycles, no bigint)');
  }
}

/** What an address must not contain (see {@link isAddress}). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is rejected
const NOT_IN_ADDRESS = /[\s\u0000-\u001f\u007f{}",]/u;

/**
 * True when `text` can be an address: non-empty, at most 2048 characters, no whitespace or
 * control characters, and none of the characters JSON text starts or separates with (`{`, `}`,
 * `"`, `,`), so a truncated JSON object is never mistaken for an address. `host:port`,
 * `[::1]:80`, URLs and `unix:` paths all qualify.
 */
export function isAddress(text: string): boolean {
  return text.length > 0 && text.length <= MAX_ADDRESS_LENGTH && !NOT_IN_ADDRESS.test(text);
}

/**
 * Reads one etcd entry under the registry prefix `base` (its key, value and mod revision) as a
 * service instance. With `service` the entry comes from that service's own range
 * (`<base><service>/`), so the rest of the key is the id; without it the rest must be
 * `<service>/<id>`.
 *
 * Accepted values: the registry's JSON `{ address, meta?, registeredAt?, status? }` (status
 * `'serving'` or `'draining'`, absent meaning serving); the JSON etcd's Go
 * `endpoints` package writes (`{ "Addr", "Metadata" }`), so Go registrants are found too; a JSON
 * string holding an address; or a plain address as text (`etcdctl put services/user/i1
 * 10.0.0.5:9000`). Anything else is rejected: the result is then the reason, as a string.
 *
 * With `shared`, values equal to ones it handed out before (`meta`, `registeredAt`, `revision`)
 * are shared with the instances that carry them; `meta` is then deeply frozen.
 */
export function parseEntry(
  key: string,
  raw: Buffer,
  revision: bigint,
  base: string,
  service: string | undefined,
  shared?: SharedValues,
): ServiceInstance | string {
  let name = service;
  let id: string;
  if (name !== undefined) {
    id = key.slice(base.length + name.length + 1);
  } else {
    const slash = key.indexOf('/', base.length);
    if (slash <= base.length) return `key does not have the shape ${base}<service>/<id>`;
    name = key.slice(base.length, slash);
    id = key.slice(slash + 1);
  }
  if (!isSegment(id)) return `key does not have the shape ${base}<service>/<id>`;
  const value = parseValue(raw);
  if (typeof value === 'string') return value;
  if (shared) {
    revision = shared.revision(revision);
    if (value.meta !== undefined) value.meta = shared.meta(value.meta);
    if (value.registeredAt !== undefined) value.registeredAt = shared.string(value.registeredAt);
  }
  // Instances are shared by every subscriber of a service: one consumer must not change another's.
  return Object.freeze(instanceOf(name, id, value, key, revision));
}

/**
 * The instance as one object literal per shape: properties added after creation would cost each
 * instance a separate property array (about 40 bytes, 10,000 times over for a large service).
 */
function instanceOf(
  service: string,
  id: string,
  value: ReadRecord,
  key: string,
  revision: bigint,
): ServiceInstance {
  const { address, meta, registeredAt, status } = value;
  if (meta === undefined) {
    return registeredAt === undefined
      ? { service, id, address, status, key, revision }
      : { service, id, address, status, key, revision, registeredAt };
  }
  return registeredAt === undefined
    ? { service, id, address, status, key, revision, meta }
    : { service, id, address, status, key, revision, meta, registeredAt };
}

function isSegment(text: string): boolean {
  return text.length > 0 && !text.includes('/');
}

/** `raw` as text, or undefined when it is not UTF-8. */
function decodeText(raw: Buffer): string | undefined {
  // The lenient decoder is several times faster than the strict one; it marks bytes that are not
  // UTF-8 with U+FFFD, so only a value showing one (which may also be a genuine U+FFFD) is checked.
  const text = raw.toString('utf8');
  if (!text.includes('\uFFFD')) return text;
  try {
    return UTF8.decode(raw);
  } catch {
    return undefined;
  }
}

function parseValue(raw: Buffer): ReadRecord | string {
  const text = decodeText(raw);
  if (text === undefined) return 'value is not UTF-8 text';
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    const address = text.trim();
    return isAddress(address)
      ? { address, status: 'serving' }
      : 'value is neither JSON { address, meta?, registeredAt?, status? } nor a plain address';
  }
  if (typeof json === 'string') {
    return isAddress(json)
      ? { address: json, status: 'serving' }
      : 'value is a JSON string that is not an address';
  }
  if (!isPlainObject(json)) return 'value is JSON but not an object with an address';
  return 'address' in json ? fromRegistry(json) : fromGoEndpoint(json);
}

function fromRegistry(json: Record<string, unknown>): ReadRecord | string {
  const { address, meta, registeredAt, status = 'serving' } = json;
  if (typeof address !== 'string' || !isAddress(address)) return 'value.address is not a valid address';
  if (meta !== undefined && !isPlainObject(meta)) return 'value.meta is not an object';
  if (registeredAt !== undefined && typeof registeredAt !== 'string')
    return 'value.registeredAt is not a string';
  if (status !== 'serving' && status !== 'draining')
    return "value.status is neither 'serving' nor 'draining'";
  const value: ReadRecord = { address, status };
  if (meta !== undefined) value.meta = meta;
  if (registeredAt !== undefined) value.registeredAt = registeredAt;
  return value;
}

function fromGoEndpoint(json: Record<string, unknown>): ReadRecord | string {
  const { Addr, Metadata } = json;
  if (typeof Addr !== 'string' || !isAddress(Addr)) return 'value has no valid address field';
  if (Metadata === undefined || Metadata === null) return { address: Addr, status: 'serving' };
  if (!isPlainObject(Metadata)) return 'value.Metadata is not an object';
  return { address: Addr, meta: Metadata, status: 'serving' };
}
