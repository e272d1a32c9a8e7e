import type { ICompare, IRequestOp } from 'etcd3';
import { assertFits } from '../core/keys.js';
import type { Runtime } from '../core/runtime.js';
import { checkOptions, checkRevision } from '../core/validate.js';
import { ClosedError, ConfigValidationError, ConflictError } from '../errors.js';
import { toConcordError } from '../etcd/translate.js';
import { txnOnce } from '../etcd/txn-once.js';
import { readRange } from '../watch/range.js';
import { toJson } from './data.js';
import { type ConfigRules, evaluate } from './evaluate.js';
import { type ConfigEntry, checkPath, decodeValue } from './tree.js';
import type { ConfigSetOptions } from './types.js';

/** The config a write goes to, as its `LiveConfig` stands when `set()` is called. */
export interface WriteTarget {
  runtime: Runtime;
  /** The config prefix, ending in '/' (or '' for the whole keyspace). */
  prefix: string;
  rules: ConfigRules;
  /** The LiveConfig was closed: writes are refused. */
  closed: boolean;
}

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
): Promise<bigint> {
  checkPath(path);
  checkOptions('options', options, ['ifRevision']);
  checkRevision('options.ifRevision', options?.ifRevision);
  const { runtime, prefix } = target;
  if (target.closed) throw new ClosedError(`config '${prefix}' is closed`);
  runtime.assertOpen('config.set');
  const etcdKey = runtime.keys.key(prefix + path);
  const bytes = value === undefined ? undefined : Buffer.from(toJson(value), 'utf8');
  assertFits(bytes ? 'value' : 'path', etcdKey, bytes);
  const ifRevision = options?.ifRevision;
  try {
    await checkResult(target, path, bytes, ifRevision);
    const compare: ICompare[] =
      ifRevision === undefined
        ? []
        : [{ key: etcdKey, target: 'Mod', result: 'Equal', mod_revision: ifRevision.toString() }];
    const op: IRequestOp = bytes
      ? { request_put: { key: etcdKey, value: bytes } }
      : { request_delete_range: { key: etcdKey } };
    // A compare-and-set runs exactly once: a retry after its first attempt landed would report
    // a conflict. A plain write is safe to retry (etcd3's policy moves on to another member).
    const request = { compare, success: [op], failure: [] };
    const res = await (compare.length > 0 ? txnOnce(runtime.etcd, request) : runtime.etcd.kv.txn(request));
    if (!res.succeeded) throw conflict(path, undefined, ifRevision ?? 0n);
    return BigInt(res.header.revision);
  } catch (err) {
    throw toConcordError(err, 'config.set');
  }
}

/**
 * Reads the config's keys and throws what the write would run into: a `ConflictError` when the
 * key is not at `ifRevision`, a `ConfigValidationError` when the config with `bytes` at `path`
 * (deleted when undefined) would not map or validate.
 */
async function checkResult(
  target: WriteTarget,
  path: string,
  bytes: Buffer | undefined,
  ifRevision: bigint | undefined,
): Promise<void> {
  const { runtime, prefix } = target;
  const key = prefix + path;
  const snapshot = await readRange(
    runtime.etcd,
    runtime.keys,
    runtime.keys.prefixRange(prefix),
    runtime.hubSettings.pageSize,
  );
  const existing = snapshot.entries.get(key)?.modRevision ?? 0n;
  if (ifRevision !== undefined && existing !== ifRevision) throw conflict(path, existing, ifRevision);
  const entries: ConfigEntry[] = [];
  for (const kv of snapshot.entries.values()) {
    if (kv.key !== key) entries.push({ path: kv.key.slice(prefix.length), value: decodeValue(kv.value) });
  }
  if (bytes) entries.push({ path, value: decodeValue(bytes) });
  const outcome = await evaluate(entries, [path], target.rules);
  if (!outcome.ok) {
    throw new ConfigValidationError(
      `config.set: writing '${path}' would make config '${prefix}' invalid: ${outcome.issues.join('; ')}`,
      { key: outcome.path ?? path, issues: outcome.issues },
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
