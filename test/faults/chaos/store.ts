import type { Etcd3 } from 'etcd3';
import type { CounterStore, FencedEntry, GuardedEntry } from './checks.js';
import { COUNTER_KEY, COUNTER_LOG, COUNTER_OPS, FENCED, GUARDED, type GuardedLock } from './protocol.js';

/** A key under a prefix as etcd holds it, read linearizably. */
export interface StoredKey {
  key: string;
  value: string;
  modRevision: bigint;
}

/** Every key under `prefix`, read linearizably in one request. */
export async function readPrefix(client: Etcd3, prefix: string): Promise<StoredKey[]> {
  const res = await client.getAll().prefix(prefix).exec();
  return res.kvs.map((kv) => ({
    key: kv.key.toString(),
    value: kv.value.toString(),
    modRevision: BigInt(kv.mod_revision),
  }));
}

/** The counter workload's keys. */
export async function readCounter(client: Etcd3): Promise<CounterStore> {
  const value = await client.get(COUNTER_KEY).string();
  const log = new Map<number, string>();
  for (const kv of await readPrefix(client, COUNTER_LOG))
    log.set(Number(kv.key.slice(COUNTER_LOG.length)), kv.value);
  const ops = new Map<string, number>();
  for (const kv of await readPrefix(client, COUNTER_OPS))
    ops.set(kv.key.slice(COUNTER_OPS.length), Number(kv.value));
  return { value: value === null ? undefined : Number(value), log, ops };
}

/** The leaders' fenced writes under `prefix` (default: the campaign workload's), each with the revision that committed it. */
export async function readFenced(client: Etcd3, prefix = FENCED): Promise<FencedEntry[]> {
  return (await readPrefix(client, prefix)).map((kv) => {
    const [term, seq] = kv.key.slice(prefix.length).split('/');
    return { term: BigInt(term!), seq: Number(seq), worker: kv.value, revision: kv.modRevision };
  });
}

/** The writes guarded by semaphore permits and rwlock sides, each with its holder's token and commit revision. */
export async function readGuarded(client: Etcd3): Promise<GuardedEntry[]> {
  return (await readPrefix(client, GUARDED)).map((kv) => {
    const [lock, token] = kv.key.slice(GUARDED.length).split('/');
    return { key: kv.key, lock: lock as GuardedLock, token: BigInt(token!), revision: kv.modRevision };
  });
}
