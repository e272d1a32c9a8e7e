import type { ICompare, IRequestOp } from 'etcd3';
import { assertFits, MAX_REQUEST_BYTES } from '../core/keys.js';
import type { Runtime } from '../core/runtime.js';
import { checkOptions, checkRevision, isPlainObject } from '../core/validate.js';
import { ClosedError, ConfigValidationError, ConflictError, InvalidArgumentError } from '../errors.js';
import { toConcordError } from '../etcd/translate.js';
import { txnOnce } from '../etcd/txn-once.js';
import { readRange } from '../watch/range.js';
import { toJson } from './data.js';
import { type ConfigRules, evaluate } from './evaluate.js';
import { isStatusKey } from './status.js';
import { type ConfigEntry, checkPath, decodeValue } from './tree.js';
import type { ConfigSetOptions, ConfigWriteResult } from './types.js';

/** The config a write goes to, as its `LiveConfig` stands when `set()` is called. */
export interface WriteTarget {
  runtime: Runtime;
  /** The config prefix, ending in '/' (or '' for the whole keyspace). */
  prefix: string;
  rules: ConfigRules;
  /** The LiveConfig was closed: writes are refused. */
  closed: boolean;
}

/** One key to write: its path below the prefix and its JSON bytes (undefined deletes the key). */
interface Change {
  path: string;
  bytes: Buffer | undefined;
}

/** etcd's default limit of operations in one transaction (--max-txn-ops). */
const MAX_TXN_OPS = 128;

/**
 * `LiveConfig.set`: checks the arguments, checks that the write would leave the config valid
 * (against the keys as read just before writing), then writes `value` as JSON to `path` below
 * the prefix (`undefined` deletes the key), as a compare-and-set on the key's mod revision when
 * `options.ifRevision` is given. Resolves with the revision of the write.
 */
export async function writeConfig(
  target: WriteTarget,
  path: string,
  value: unknown,
  options: ConfigSetOptions | undefined,
): Promise<ConfigWriteResult> {
  checkPath(path);
  checkOptions('options', options, ['ifRevision']);
  checkRevision('options.ifRevision', options?.ifRevision);
  const change = encodeChange(target, path, value, 'value');
  return write(target, [change], options?.ifRevision, 'config.set');
}

/**
 * `LiveConfig.setMany`: like {@link writeConfig} for every path of `values` at once, in ONE etcd
 * transaction (one revision). Checked as a whole before anything is written.
 */
export async function writeConfigMany(target: WriteTarget, values: unknown): Promise<ConfigWriteResult> {
  if (!isPlainObject(values))
    throw new InvalidArgumentError('values', 'must be a plain object of path → value', values);
  const paths = Object.keys(values);
  if (paths.length === 0) throw new InvalidArgumentError('values', 'must name at least one key');
  if (paths.length > MAX_TXN_OPS) {
    throw new InvalidArgumentError(
      'values',
      `must name at most ${MAX_TXN_OPS} keys (etcd's default --max-txn-ops)`,
    );
  }
  const changes = paths.map((path) => {
    checkPath(path, `values['${path}']`);
    return encodeChange(target, path, values[path], `values['${path}']`);
  });
  const size = changes.reduce(
    (sum, c) => sum + c.path.length + target.prefix.length + (c.bytes?.length ?? 0),
    0,
  );
  if (size > MAX_REQUEST_BYTES) {
    throw new InvalidArgumentError(
      'values',
      `must fit etcd's request size limit of ${MAX_REQUEST_BYTES} bytes together`,
    );
  }
  return write(target, changes, undefined, 'config.setMany');
}

function encodeChange(target: WriteTarget, path: string, value: unknown, argument: string): Change {
  const etcdKey = target.runtime.keys.key(target.prefix + path);
  const bytes = value === undefined ? undefined : Buffer.from(toJson(value, argument), 'utf8');
  assertFits(bytes ? argument : 'path', etcdKey, bytes);
  return { path, bytes };
}

async function write(
  target: WriteTarget,
  changes: readonly Change[],
  ifRevision: bigint | undefined,
  what: string,
): Promise<ConfigWriteResult> {
  const { runtime, prefix } = target;
  if (target.closed) throw new ClosedError(`config '${prefix}' is closed`);
  runtime.assertOpen(what);
  try {
    await checkResult(target, changes, ifRevision, what);
    const keyOf = (path: string) => runtime.keys.key(prefix + path);
    const compare: ICompare[] =
      ifRevision === undefined
        ? []
        : [
            {
              key: keyOf(changes[0]!.path),
              target: 'Mod',
              result: 'Equal',
              mod_revision: ifRevision.toString(),
            },
          ];
    const ops: IRequestOp[] = changes.map(({ path, bytes }) =>
      bytes
        ? { request_put: { key: keyOf(path), value: bytes } }
        : { request_delete_range: { key: keyOf(path) } },
    );
    // A compare-and-set runs exactly once: a retry after its first attempt landed would report
    // a conflict. A plain write is safe to retry (etcd3's policy moves on to another member).
    const request = { compare, success: ops, failure: [] };
    const res = await (compare.length > 0 ? txnOnce(runtime.etcd, request) : runtime.etcd.kv.txn(request));
    if (!res.succeeded) throw conflict(changes[0]!.path, undefined, ifRevision ?? 0n);
    return { revision: BigInt(res.header.revision) };
  } catch (err) {
    throw toConcordError(err, what);
  }
}

/**
 * Reads the config's keys and throws what the write would run into: a `ConflictError` when the
 * (single) key is not at `ifRevision`, a `ConfigValidationError` when the config with `changes`
 * applied would not map or validate.
 */
async function checkResult(
  target: WriteTarget,
  changes: readonly Change[],
  ifRevision: bigint | undefined,
  what: string,
): Promise<void> {
  const { runtime, prefix } = target;
  const snapshot = await readRange(
    runtime.etcd,
    runtime.keys,
    runtime.keys.prefixRange(prefix),
    runtime.hubSettings.pageSize,
  );
  const first = changes[0]!.path;
  const existing = snapshot.entries.get(prefix + first)?.modRevision ?? 0n;
  if (ifRevision !== undefined && existing !== ifRevision) throw conflict(first, existing, ifRevision);
  const written = new Set(changes.map((c) => prefix + c.path));
  const entries: ConfigEntry[] = [];
  for (const kv of snapshot.entries.values()) {
    if (!written.has(kv.key) && !isStatusKey(prefix, kv.key)) {
      entries.push({ path: kv.key.slice(prefix.length), value: decodeValue(kv.value) });
    }
  }
  for (const { path, bytes } of changes) if (bytes) entries.push({ path, value: decodeValue(bytes) });
  const paths = changes.map((c) => c.path);
  const outcome = await evaluate(entries, paths, target.rules);
  if (!outcome.ok) {
    const writing =
      paths.length === 1 ? `writing '${first}'` : `writing ${paths.map((p) => `'${p}'`).join(', ')}`;
    throw new ConfigValidationError(
      `${what}: ${writing} would make config '${prefix}' invalid: ${outcome.issues.join('; ')}`,
      { key: outcome.path ?? first, issues: outcome.issues },
    );
  }
}

function conflict(path: string, actual: bigint | undefined, expected: bigint): ConflictError {
  const now =
    actual === undefined
      ? 'was written meanwhile'
      : actual === 0n
        ? 'does not exist'
        : `is at revision ${actual}`;
  return new ConflictError(
    `config.set: key '${path}' ${now}, not at ifRevision ${expected}${expected === 0n ? ' (absent)' : ''}; nothing was written`,
  );
}
