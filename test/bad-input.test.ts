// The bad-input sweep: every public entry point called with arguments that break a documented
// rule must throw (or reject with) InvalidArgumentError naming the argument, and must write
// nothing to etcd. One table, one test per row; the store revision is compared around each row.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  Concord,
  InvalidArgumentError,
  type Leadership,
  type LiveConfig,
  type LockHandle,
  type Registration,
  type Session,
} from 'concord-etcd';
import { isObservable, type Observable, type Subscription } from 'rxjs';
import { type EtcdCluster, startCluster } from './support/etcd.js';

/** What each row may use: one Concord and live handles created before the sweep. */
interface Handles {
  concord: Concord;
  session: Session;
  lock: LockHandle;
  leadership: Leadership;
  registration: Registration;
  config: LiveConfig<unknown>;
}

interface Row {
  /** The call, as a reader would write it. */
  call: string;
  /** The `argument` the InvalidArgumentError must name. */
  argument: string;
  run: (h: Handles) => unknown;
}

// Over etcd's 1.5 MiB request limit on its own.
const OVERSIZE = 'x'.repeat(1.6 * 1024 * 1024);
const cyclic: Record<string, unknown> = { a: 1 };
cyclic.self = cyclic;
// Values that must be rejected wherever an etcd lease TTL in seconds is taken.
const BAD_TTLS: unknown[] = [0, 1, 1.5, -1, Number.NaN, Number.POSITIVE_INFINITY, '10', 10n];
// Values that are not JSON data, where JSON data is required.
const NOT_JSON: Array<[string, unknown]> = [
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['a bigint', 1n],
  ['a function', () => 1],
  ['a symbol', Symbol('s')],
  ['a cyclic object', cyclic],
  ['an object holding NaN', { pool: Number.NaN }],
];

const ttlRows = (call: string, argument: string, run: (h: Handles, ttl: unknown) => unknown): Row[] =>
  BAD_TTLS.map((ttl) => ({ call: `${call} ttl=${show(ttl)}`, argument, run: (h) => run(h, ttl) }));

function show(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'string') return JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}…` : value);
  if (typeof value === 'function') return 'function';
  if (typeof value === 'symbol') return 'symbol';
  return String(value);
}

const rows: Row[] = [
  // new Concord(options)
  { call: "new Concord('127.0.0.1:2379')", argument: 'options', run: () => new Concord('x' as never) },
  {
    call: 'new Concord({ endpoint })',
    argument: 'options.endpoint',
    run: () => new Concord({ endpoint: 'a:1' } as never),
  },
  {
    call: 'new Concord({ endpoints: [] })',
    argument: 'options.endpoints',
    run: () => new Concord({ endpoints: [] }),
  },
  {
    call: 'new Concord({ endpoints: 42 })',
    argument: 'options.endpoints',
    run: () => new Concord({ endpoints: 42 as never }),
  },
  {
    call: "new Concord({ endpoints: 'http://a:1/path' })",
    argument: 'options.endpoints',
    run: () => new Concord({ endpoints: 'http://a:1/path' }),
  },
  {
    call: "new Concord({ endpoints: ['a:1', 5] })",
    argument: 'options.endpoints',
    run: () => new Concord({ endpoints: ['a:1', 5 as never] }),
  },
  {
    call: 'new Concord({ namespace: 5 })',
    argument: 'options.namespace',
    run: () => new Concord({ namespace: 5 as never }),
  },
  {
    call: "new Concord({ loggerStyle: 'pino' })",
    argument: 'options.loggerStyle',
    run: () => new Concord({ loggerStyle: 'pino' as never }),
  },
  {
    call: "new Concord({ unaryTransport: 'grpc' })",
    argument: 'options.unaryTransport',
    run: () => new Concord({ unaryTransport: 'grpc' as never }),
  },
  {
    call: "new Concord({ auth: { username: '' } })",
    argument: 'options.auth.username',
    run: () => new Concord({ auth: { username: '', password: 'p' } }),
  },
  {
    call: "new Concord({ auth: { username: 'u' } })",
    argument: 'options.auth.password',
    run: () => new Concord({ auth: { username: 'u' } as never }),
  },
  {
    call: 'new Concord({ auth: { token } })',
    argument: 'options.auth.token',
    run: () => new Concord({ auth: { username: 'u', password: 'p', token: 't' } as never }),
  },
  {
    call: "new Concord({ auth: 'u:p' })",
    argument: 'options.auth',
    run: () => new Concord({ auth: 'u:p' as never }),
  },
  {
    call: 'new Concord({ tls: { ca: 5 } })',
    argument: 'options.tls.ca',
    run: () => new Concord({ tls: { ca: 5 as never } }),
  },
  {
    call: 'new Concord({ tls: { cert } }) without key',
    argument: 'options.tls',
    run: () => new Concord({ tls: { cert: 'pem' } }),
  },
  {
    call: 'new Concord({ tls: { crl } })',
    argument: 'options.tls.crl',
    run: () => new Concord({ tls: { crl: 'x' } as never }),
  },
  {
    call: 'new Concord({ policies: { breaker } })',
    argument: 'options.policies.breaker',
    run: () => new Concord({ policies: { breaker: 1 } as never }),
  },
  {
    call: 'new Concord({ policies: { global: 5 } })',
    argument: 'options.policies.global',
    run: () => new Concord({ policies: { global: 5 as never } }),
  },
  {
    call: "new Concord({ policies: { host: 'x' } })",
    argument: 'options.policies.host',
    run: () => new Concord({ policies: { host: 'x' as never } }),
  },
  {
    call: 'new Concord({ policies: { reconnect: 100 } })',
    argument: 'options.policies.reconnect',
    run: () => new Concord({ policies: { reconnect: 100 as never } }),
  },
  {
    call: 'new Concord({ namespace: oversize })',
    argument: 'options.namespace',
    run: () => new Concord({ namespace: OVERSIZE }),
  },
  {
    call: "new Concord({ logger: { info: 'x' } })",
    argument: 'options.logger.info',
    run: () => new Concord({ logger: { info: 'x' } as never }),
  },
  {
    call: "new Concord({ logger: 'console' })",
    argument: 'options.logger',
    run: () => new Concord({ logger: 'console' as never }),
  },
  ...[0, 1.5, -1, Number.NaN, '100'].map<Row>((v) => ({
    call: `new Concord({ callTimeoutMs: ${show(v)} })`,
    argument: 'options.callTimeoutMs',
    run: () => new Concord({ callTimeoutMs: v as never }),
  })),
  {
    call: 'new Concord({ probeIntervalMs: 1 })',
    argument: 'options.probeIntervalMs',
    run: () => new Concord({ probeIntervalMs: 1 }),
  },
  ...[1, 99, -1, 150.5, true, '30000'].map<Row>((v) => ({
    call: `new Concord({ autoSyncIntervalMs: ${show(v)} })`,
    argument: 'options.autoSyncIntervalMs',
    run: () => new Concord({ autoSyncIntervalMs: v as never }),
  })),
  ...[1, 9, -1, 2.5, false].map<Row>((v) => ({
    call: `new Concord({ watch: { progressIntervalMs: ${show(v)} } })`,
    argument: 'options.watch.progressIntervalMs',
    run: () => new Concord({ watch: { progressIntervalMs: v as never } }),
  })),
  {
    call: 'new Concord({ watch: { stallTimeoutMs: 1.5 } })',
    argument: 'options.watch.stallTimeoutMs',
    run: () => new Concord({ watch: { stallTimeoutMs: 1.5 } }),
  },
  {
    call: 'new Concord({ watch: { pageSize: 0 } })',
    argument: 'options.watch.pageSize',
    run: () => new Concord({ watch: { pageSize: 0 } }),
  },
  {
    call: 'new Concord({ watch: { maxBuffered: -1 } })',
    argument: 'options.watch.maxBuffered',
    run: () => new Concord({ watch: { maxBuffered: -1 } }),
  },
  {
    call: 'new Concord({ watch: { history } })',
    argument: 'options.watch.history',
    run: () => new Concord({ watch: { history: 1 } as never }),
  },

  // concord.watch / view / watchIterator
  { call: 'watch(null)', argument: 'range', run: (h) => h.concord.watch(null as never) },
  { call: 'watch({})', argument: 'range.key', run: (h) => h.concord.watch({} as never) },
  { call: "watch({ key: '' })", argument: 'range.key', run: (h) => h.concord.watch({ key: '' }) },
  { call: 'watch({ key: 5 })', argument: 'range.key', run: (h) => h.concord.watch({ key: 5 as never }) },
  {
    call: 'watch({ prefix: 5 })',
    argument: 'range.prefix',
    run: (h) => h.concord.watch({ prefix: 5 as never }),
  },
  {
    call: 'watch({ prefix, key })',
    argument: 'range.key',
    run: (h) => h.concord.watch({ prefix: 'a/', key: 'a' } as never),
  },
  {
    call: 'watch(r, { fromRevision: 0n })',
    argument: 'options.fromRevision',
    run: (h) => h.concord.watch({ prefix: 'a/' }, { fromRevision: 0n }),
  },
  {
    call: 'watch(r, { fromRevision: -1n })',
    argument: 'options.fromRevision',
    run: (h) => h.concord.watch({ prefix: 'a/' }, { fromRevision: -1n }),
  },
  {
    call: 'watch(r, { fromRevision: 5 })',
    argument: 'options.fromRevision',
    run: (h) => h.concord.watch({ prefix: 'a/' }, { fromRevision: 5 as never }),
  },
  {
    call: "watch(r, { prevKv: 'yes' })",
    argument: 'options.prevKv',
    run: (h) => h.concord.watch({ prefix: 'a/' }, { prevKv: 'yes' as never }),
  },
  {
    call: 'watch(r, { since })',
    argument: 'options.since',
    run: (h) => h.concord.watch({ prefix: 'a/' }, { since: 1n } as never),
  },
  { call: "view({ key: 'a' })", argument: 'range.key', run: (h) => h.concord.view({ key: 'a' } as never) },
  {
    call: 'view({ prefix: 5 })',
    argument: 'range.prefix',
    run: (h) => h.concord.view({ prefix: 5 as never }),
  },
  {
    call: 'watchIterator(r, { maxBuffered: 0 })',
    argument: 'options.maxBuffered',
    run: (h) => h.concord.watchIterator({ prefix: 'a/' }, { maxBuffered: 0 }),
  },
  {
    call: "watchIterator(r, { overflow: 'drop' })",
    argument: 'options.overflow',
    run: (h) => h.concord.watchIterator({ prefix: 'a/' }, { overflow: 'drop' as never }),
  },
  {
    call: 'watchIterator(r, { fromRevision: 0n })',
    argument: 'options.fromRevision',
    run: (h) => h.concord.watchIterator({ prefix: 'a/' }, { fromRevision: 0n }),
  },

  // concord.session
  ...ttlRows('session({ ttl })', 'options.ttl', (h, ttl) => h.concord.session({ ttl: ttl as never })),
  {
    call: 'session({ lease })',
    argument: 'options.lease',
    run: (h) => h.concord.session({ lease: '1' } as never),
  },
  { call: 'session(5)', argument: 'options', run: (h) => h.concord.session(5 as never) },

  // concord.mutex and its handle
  { call: "mutex('')", argument: 'name', run: (h) => h.concord.mutex('') },
  { call: 'mutex(5)', argument: 'name', run: (h) => h.concord.mutex(5 as never) },
  { call: "mutex('a\\nb')", argument: 'name', run: (h) => h.concord.mutex('a\nb') },
  { call: 'mutex(oversize name)', argument: 'name', run: (h) => h.concord.mutex(OVERSIZE) },
  { call: "mutex('a/b')", argument: 'name', run: (h) => h.concord.mutex('a/b') },
  ...ttlRows("mutex('m', { ttl })", 'options.ttl', (h, ttl) =>
    h.concord.mutex('bad-m', { ttl: ttl as never }),
  ),
  {
    call: "mutex('m', { session: {} })",
    argument: 'options.session',
    run: (h) => h.concord.mutex('bad-m', { session: {} as never }),
  },
  {
    call: "mutex('m', { session, ttl })",
    argument: 'options.ttl',
    run: (h) => h.concord.mutex('bad-m', { session: h.session, ttl: 5 }),
  },
  {
    call: "mutex('m', { wait })",
    argument: 'options.wait',
    run: (h) => h.concord.mutex('bad-m', { wait: true } as never),
  },
  {
    call: "mutex('m').lock({ signal: 'x' })",
    argument: 'options.signal',
    run: (h) => h.concord.mutex('bad-m').lock({ signal: 'x' as never }),
  },
  {
    call: "mutex('m').lock({ timeout })",
    argument: 'options.timeout',
    run: (h) => h.concord.mutex('bad-m').lock({ timeout: 5 } as never),
  },
  { call: "lock.txn('put a')", argument: 'ops', run: (h) => h.lock.txn('put a' as never) },
  { call: 'lock.txn([null])', argument: 'ops[0]', run: (h) => h.lock.txn([null as never]) },
  {
    call: "lock.txn([{ type: 'get' }])",
    argument: 'ops[0].type',
    run: (h) => h.lock.txn([{ type: 'get', key: 'a' } as never]),
  },
  {
    call: "lock.txn([{ key: '' }])",
    argument: 'ops[0].key',
    run: (h) => h.lock.txn([{ type: 'put', key: '', value: 'v' }]),
  },
  {
    call: 'lock.txn([{ value: 5 }])',
    argument: 'ops[0].value',
    run: (h) => h.lock.txn([{ type: 'put', key: 'a', value: 5 as never }]),
  },
  {
    call: 'lock.txn([ok, oversize value])',
    argument: 'ops[1].value',
    run: (h) =>
      h.lock.txn([
        { type: 'put', key: 'a', value: 'v' },
        { type: 'put', key: 'b', value: OVERSIZE },
      ]),
  },
  {
    call: 'lock.txn([{ delete oversize key }])',
    argument: 'ops[0].key',
    run: (h) => h.lock.txn([{ type: 'delete', key: OVERSIZE }]),
  },
  {
    call: "lock.txn([ok, { put 'held/last' }]) (inside the lock's own queue prefix)",
    argument: 'ops[1].key',
    run: (h) =>
      h.lock.txn([
        { type: 'put', key: 'a', value: 'v' },
        { type: 'put', key: 'held/last', value: '42' },
      ]),
  },
  {
    call: 'lock.txn([{ delete own key }])',
    argument: 'ops[0].key',
    run: (h) => h.lock.txn([{ type: 'delete', key: h.lock.key }]),
  },

  // concord.rwlock / semaphore
  { call: "rwlock('')", argument: 'name', run: (h) => h.concord.rwlock('') },
  { call: "rwlock('a/b')", argument: 'name', run: (h) => h.concord.rwlock('a/b') },
  ...ttlRows("rwlock('r', { ttl })", 'options.ttl', (h, ttl) =>
    h.concord.rwlock('bad-r', { ttl: ttl as never }),
  ),
  {
    call: "rwlock('r').read({ signal: {} })",
    argument: 'options.signal',
    run: (h) => h.concord.rwlock('bad-r').read({ signal: {} as never }),
  },
  {
    call: "rwlock('r').write({ priority })",
    argument: 'options.priority',
    run: (h) => h.concord.rwlock('bad-r').write({ priority: 1 } as never),
  },
  {
    call: "semaphore('s')",
    argument: 'options',
    run: (h) => h.concord.semaphore('bad-s', undefined as never),
  },
  ...[0, -1, -5, 1.5, Number.NaN, '2', undefined].map<Row>((permits) => ({
    call: `semaphore('s', { permits: ${show(permits)} })`,
    argument: 'options.permits',
    run: (h) => h.concord.semaphore('bad-s', { permits: permits as never }),
  })),
  {
    call: "semaphore('', { permits: 2 })",
    argument: 'name',
    run: (h) => h.concord.semaphore('', { permits: 2 }),
  },
  ...ttlRows("semaphore('s', { permits: 2, ttl })", 'options.ttl', (h, ttl) =>
    h.concord.semaphore('bad-s', { permits: 2, ttl: ttl as never }),
  ),
  {
    call: "semaphore('s', { permits: 2 }).acquire({ signal: 1 })",
    argument: 'options.signal',
    run: (h) => h.concord.semaphore('bad-s', { permits: 2 }).acquire({ signal: 1 as never }),
  },

  // concord.election and its leadership
  { call: "election('')", argument: 'name', run: (h) => h.concord.election('') },
  { call: "election('a/b')", argument: 'name', run: (h) => h.concord.election('a/b') },
  { call: 'election(5)', argument: 'name', run: (h) => h.concord.election(5 as never) },
  { call: 'election(oversize name)', argument: 'name', run: (h) => h.concord.election(OVERSIZE) },
  ...ttlRows("election('e', { ttl })", 'options.ttl', (h, ttl) =>
    h.concord.election('bad-e', { ttl: ttl as never }),
  ),
  {
    call: "election('e', { session: 'x' })",
    argument: 'options.session',
    run: (h) => h.concord.election('bad-e', { session: 'x' as never }),
  },
  {
    call: "election('e', { session, ttl })",
    argument: 'options.ttl',
    run: (h) => h.concord.election('bad-e', { session: h.session, ttl: 5 }),
  },
  {
    call: "election('e', { priority })",
    argument: 'options.priority',
    run: (h) => h.concord.election('bad-e', { priority: 1 } as never),
  },
  {
    call: "election('e').campaign(5)",
    argument: 'value',
    run: (h) => h.concord.election('bad-e').campaign(5 as never),
  },
  {
    call: "election('e').campaign(oversize)",
    argument: 'value',
    run: (h) => h.concord.election('bad-e').campaign(OVERSIZE),
  },
  { call: 'leadership.proclaim(5)', argument: 'value', run: (h) => h.leadership.proclaim(5 as never) },
  { call: 'leadership.proclaim(oversize)', argument: 'value', run: (h) => h.leadership.proclaim(OVERSIZE) },
  { call: 'leadership.txn({})', argument: 'ops', run: (h) => h.leadership.txn({} as never) },
  {
    call: "leadership.txn([{ type: 'put', value: 5 }])",
    argument: 'ops[0].value',
    run: (h) => h.leadership.txn([{ type: 'put', key: 'a', value: 5 as never }]),
  },
  {
    call: "leadership.txn([{ put 'election/held/x' }]) (inside the election's own queue prefix)",
    argument: 'ops[0].key',
    run: (h) => h.leadership.txn([{ type: 'put', key: 'election/held/x', value: 'v' }]),
  },

  // concord.registry and its registration
  {
    call: "registry({ prefix: 'svc' })",
    argument: 'options.prefix',
    run: (h) => h.concord.registry({ prefix: 'svc' }),
  },
  {
    call: 'registry({ prefix: 5 })',
    argument: 'options.prefix',
    run: (h) => h.concord.registry({ prefix: 5 as never }),
  },
  {
    call: 'registry({ root })',
    argument: 'options.root',
    run: (h) => h.concord.registry({ root: 'x/' } as never),
  },
  {
    call: 'register(undefined)',
    argument: 'instance',
    run: (h) => h.concord.registry().register(undefined as never),
  },
  {
    call: "register({ service: '' })",
    argument: 'instance.service',
    run: (h) => h.concord.registry().register({ service: '', address: 'a:1' }),
  },
  {
    call: 'register({ service: 5 })',
    argument: 'instance.service',
    run: (h) => h.concord.registry().register({ service: 5 as never, address: 'a:1' }),
  },
  {
    call: "register({ service: 'a/b' })",
    argument: 'instance.service',
    run: (h) => h.concord.registry().register({ service: 'a/b', address: 'a:1' }),
  },
  {
    call: "register({ id: '' })",
    argument: 'instance.id',
    run: (h) => h.concord.registry().register({ service: 'bad', id: '', address: 'a:1' }),
  },
  {
    call: "register({ id: 'i/1' })",
    argument: 'instance.id',
    run: (h) => h.concord.registry().register({ service: 'bad', id: 'i/1', address: 'a:1' }),
  },
  {
    call: "register({ address: '' })",
    argument: 'instance.address',
    run: (h) => h.concord.registry().register({ service: 'bad', address: '' }),
  },
  {
    call: "register({ address: 'a b' })",
    argument: 'instance.address',
    run: (h) => h.concord.registry().register({ service: 'bad', address: 'a b' }),
  },
  {
    call: 'register({ address: 80 })',
    argument: 'instance.address',
    run: (h) => h.concord.registry().register({ service: 'bad', address: 80 as never }),
  },
  {
    call: "register({ meta: 'x' })",
    argument: 'instance.meta',
    run: (h) => h.concord.registry().register({ service: 'bad', address: 'a:1', meta: 'x' as never }),
  },
  {
    call: 'register({ meta: cyclic })',
    argument: 'instance.meta',
    run: (h) => h.concord.registry().register({ service: 'bad', address: 'a:1', meta: cyclic }),
  },
  {
    call: 'register({ meta: { n: 1n } })',
    argument: 'instance.meta',
    run: (h) => h.concord.registry().register({ service: 'bad', address: 'a:1', meta: { n: 1n } }),
  },
  {
    call: 'register({ service: oversize })',
    argument: 'instance.service',
    run: (h) => h.concord.registry().register({ service: OVERSIZE, address: 'a:1' }),
  },
  {
    call: 'register({ meta: oversize })',
    argument: 'instance.meta',
    run: (h) => h.concord.registry().register({ service: 'bad', address: 'a:1', meta: { big: OVERSIZE } }),
  },
  {
    call: 'register({ weight })',
    argument: 'instance.weight',
    run: (h) => h.concord.registry().register({ service: 'bad', address: 'a:1', weight: 1 } as never),
  },
  ...ttlRows('register(i, { ttl })', 'options.ttl', (h, ttl) =>
    h.concord.registry().register({ service: 'bad', address: 'a:1' }, { ttl: ttl as never }),
  ),
  {
    call: 'register(i, { lease })',
    argument: 'options.lease',
    run: (h) => h.concord.registry().register({ service: 'bad', address: 'a:1' }, { lease: '1' } as never),
  },
  {
    call: 'registration.update(undefined)',
    argument: 'changes',
    run: (h) => h.registration.update(undefined as never),
  },
  {
    call: "registration.update({ address: '' })",
    argument: 'changes.address',
    run: (h) => h.registration.update({ address: '' }),
  },
  {
    call: 'registration.update({ meta: 5 })',
    argument: 'changes.meta',
    run: (h) => h.registration.update({ meta: 5 as never }),
  },
  {
    call: 'registration.update({ meta: oversize })',
    argument: 'changes.meta',
    run: (h) => h.registration.update({ meta: { big: OVERSIZE } }),
  },
  {
    call: 'registration.update({ port })',
    argument: 'changes.port',
    run: (h) => h.registration.update({ port: 1 } as never),
  },

  // concord.discovery
  {
    call: "discovery({ prefix: 'svc' })",
    argument: 'options.prefix',
    run: (h) => h.concord.discovery({ prefix: 'svc' }),
  },
  {
    call: 'discovery({ watch })',
    argument: 'options.watch',
    run: (h) => h.concord.discovery({ watch: true } as never),
  },
  { call: "instances$('')", argument: 'service', run: (h) => h.concord.discovery().instances$('') },
  { call: "instances$('a/b')", argument: 'service', run: (h) => h.concord.discovery().instances$('a/b') },
  { call: 'instances$(5)', argument: 'service', run: (h) => h.concord.discovery().instances$(5 as never) },
  { call: "changes$('')", argument: 'service', run: (h) => h.concord.discovery().changes$('') },
  { call: "changes$('a/b')", argument: 'service', run: (h) => h.concord.discovery().changes$('a/b') },
  { call: "picker('')", argument: 'service', run: (h) => h.concord.discovery().picker('') },
  {
    call: "picker('s').ready({ signal: 'x' })",
    argument: 'options.signal',
    run: (h) =>
      h.concord
        .discovery()
        .picker('bad-s')
        .ready({ signal: 'x' as never }),
  },
  {
    call: "picker('s', { strategy: 'least' })",
    argument: 'options.strategy',
    run: (h) => h.concord.discovery().picker('s', { strategy: 'least' as never }),
  },
  {
    call: "picker('s', { sticky })",
    argument: 'options.sticky',
    run: (h) => h.concord.discovery().picker('s', { sticky: true } as never),
  },

  // concord.config and its methods
  { call: 'config(5)', argument: 'prefix', run: (h) => h.concord.config(5 as never) },
  { call: "config('a\\u0000')", argument: 'prefix', run: (h) => h.concord.config('a\u0000') },
  {
    call: "config('c', { schema: {} })",
    argument: 'options.schema',
    run: (h) => h.concord.config('bad-c', { schema: {} as never }),
  },
  {
    call: "config('c', { defaults: 5 })",
    argument: 'options.defaults',
    run: (h) => h.concord.config('bad-c', { defaults: 5 as never }),
  },
  ...NOT_JSON.filter(([, v]) => typeof v === 'object').map<Row>(([what, v]) => ({
    call: `config('c', { defaults: ${what} })`,
    argument: 'options.defaults',
    run: (h) => h.concord.config('bad-c', { defaults: { nested: v } as never }),
  })),
  {
    call: "config('c', { watch })",
    argument: 'options.watch',
    run: (h) => h.concord.config('bad-c', { watch: true } as never),
  },
  { call: "config.set('', 1)", argument: 'path', run: (h) => h.config.set('', 1) },
  { call: "config.set('a//b', 1)", argument: 'path', run: (h) => h.config.set('a//b', 1) },
  { call: "config.set('/a', 1)", argument: 'path', run: (h) => h.config.set('/a', 1) },
  { call: 'config.set(5, 1)', argument: 'path', run: (h) => h.config.set(5 as never, 1) },
  ...NOT_JSON.map<Row>(([what, v]) => ({
    call: `config.set('a', ${what})`,
    argument: 'value',
    run: (h) => h.config.set('a', v),
  })),
  { call: "config.set('a', oversize)", argument: 'value', run: (h) => h.config.set('a', OVERSIZE) },
  {
    call: "config.set('a', 1, { ifRevision: 5 })",
    argument: 'options.ifRevision',
    run: (h) => h.config.set('a', 1, { ifRevision: 5 as never }),
  },
  {
    call: "config.set('a', 1, { ifRevision: -1n })",
    argument: 'options.ifRevision',
    run: (h) => h.config.set('a', 1, { ifRevision: -1n }),
  },
  {
    call: "config.set('a', 1, { cas })",
    argument: 'options.cas',
    run: (h) => h.config.set('a', 1, { cas: true } as never),
  },
  {
    call: "config.load({ signal: 'x' })",
    argument: 'options.signal',
    run: (h) => h.config.load({ signal: 'x' as never }),
  },
  { call: "config.revisionOf('')", argument: 'path', run: (h) => h.config.revisionOf('') },

  // concord.kv
  { call: "kv.get('')", argument: 'key', run: (h) => h.concord.kv.get('') },
  {
    call: "kv.get('a', { signal: 'x' })",
    argument: 'options.signal',
    run: (h) => h.concord.kv.get('a', { signal: 'x' as never }),
  },
  { call: 'kv.getPrefix(5)', argument: 'prefix', run: (h) => h.concord.kv.getPrefix(5 as never) },
  { call: "kv.put('a', 5)", argument: 'value', run: (h) => h.concord.kv.put('a', 5 as never) },
  { call: "kv.put('a', oversize)", argument: 'value', run: (h) => h.concord.kv.put('a', OVERSIZE) },
  { call: "kv.delete('')", argument: 'key', run: (h) => h.concord.kv.delete('') },
  {
    call: "config('config-status/x')",
    argument: 'prefix',
    run: (h) => h.concord.config('config-status/x'),
  },
  {
    call: "config('', { instance })",
    argument: 'options.instance',
    run: (h) => h.concord.config('', { instance: 'i' }),
  },
  {
    call: "config('c', { instance: 'a/b' })",
    argument: 'options.instance',
    run: (h) => h.concord.config('c', { instance: 'a/b' }),
  },
  {
    call: "config('c', { instance: '' })",
    argument: 'options.instance',
    run: (h) => h.concord.config('c', { instance: '' }),
  },
  {
    call: "config('c', { ttl }) without instance",
    argument: 'options.ttl',
    run: (h) => h.concord.config('c', { ttl: 5 }),
  },
  {
    call: "config('c', { session }) without instance",
    argument: 'options.session',
    run: (h) => h.concord.config('c', { session: h.session }),
  },
  {
    call: "config('c', { instance, session, ttl })",
    argument: 'options.ttl',
    run: (h) => h.concord.config('c', { instance: 'i', session: h.session, ttl: 5 }),
  },
  {
    call: "config('c', { instance, session: {} })",
    argument: 'options.session',
    run: (h) => h.concord.config('c', { instance: 'i', session: {} as never }),
  },
  ...ttlRows("config('c', { instance, ttl })", 'options.ttl', (h, ttl) =>
    h.concord.config('c', { instance: 'i', ttl: ttl as never }),
  ),
  { call: 'config.setMany({})', argument: 'values', run: (h) => h.config.setMany({}) },
  { call: 'config.setMany(5)', argument: 'values', run: (h) => h.config.setMany(5 as never) },
  {
    call: "config.setMany({ 'a//b': 1 })",
    argument: "values['a//b']",
    run: (h) => h.config.setMany({ 'a//b': 1 }),
  },
  ...NOT_JSON.slice(0, 2).map<Row>(([what, v]) => ({
    call: `config.setMany({ a: 1, b: ${what} })`,
    argument: "values['b']",
    run: (h) => h.config.setMany({ a: 1, b: v }),
  })),
  {
    call: 'config.setMany(129 keys)',
    argument: 'values',
    run: (h) => h.config.setMany(Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`k${i}`, i]))),
  },
  {
    call: 'config.setMany(oversize together)',
    argument: 'values',
    run: (h) => h.config.setMany({ a: OVERSIZE.slice(0, 900_000), b: OVERSIZE.slice(0, 900_000) }),
  },
  { call: 'config.rollout$(0n)', argument: 'revision', run: (h) => h.config.rollout$(0n) },
  { call: 'config.rollout$(5)', argument: 'revision', run: (h) => h.config.rollout$(5 as never) },
  { call: "config('').rollout$(5n)", argument: 'prefix', run: (h) => h.concord.config('').rollout$(5n) },
  { call: 'config.rolledOut(-1n)', argument: 'revision', run: (h) => h.config.rolledOut(-1n) },
  {
    call: 'config.rolledOut(5n, { instances: 0 })',
    argument: 'options.instances',
    run: (h) => h.config.rolledOut(5n, { instances: 0 }),
  },
  {
    call: "config.rolledOut(5n, { signal: 'x' })",
    argument: 'options.signal',
    run: (h) => h.config.rolledOut(5n, { signal: 'x' as never }),
  },
  {
    call: 'config.rolledOut(5n, { timeout })',
    argument: 'options.timeout',
    run: (h) => h.config.rolledOut(5n, { timeout: 5 } as never),
  },
];

describe('bad input: every public call rejects it with InvalidArgumentError and writes nothing', () => {
  let cluster: EtcdCluster;
  let handles: Handles;
  let campaign: Subscription | undefined;

  before(async () => {
    cluster = await startCluster();
    const concord = new Concord({ endpoints: cluster.endpoints, namespace: 'bad-input/' });
    const session = await concord.session({ ttl: 10 });
    const lock = await concord.mutex('held', { session }).lock();
    const leadership = await new Promise<Leadership>((resolve, reject) => {
      campaign = concord.election('held').campaign('me').subscribe({ next: resolve, error: reject });
    });
    const registration = await concord.registry().register({ service: 'held', address: 'a:1' }, { session });
    const config = concord.config('held') as LiveConfig<unknown>;
    await config.set('a', 1);
    await config.load();
    handles = { concord, session, lock, leadership, registration, config };
  });
  after(async () => {
    campaign?.unsubscribe();
    await handles?.concord.close();
    await cluster?.stop();
  });

  test('the table covers every public entry point', () => {
    const calls = rows.map((r) => r.call).join('\n');
    for (const entry of [
      'new Concord',
      'watch(',
      'view(',
      'watchIterator(',
      'session(',
      'mutex(',
      '.lock(',
      'lock.txn(',
      'rwlock(',
      '.read(',
      '.write(',
      'semaphore(',
      '.acquire(',
      'election(',
      '.campaign(',
      'leadership.proclaim(',
      'leadership.txn(',
      'registry(',
      'register(',
      'registration.update(',
      'discovery(',
      'instances$(',
      'changes$(',
      'picker(',
      'config(',
      'config.set(',
      'config.load(',
      'config.revisionOf(',
      'kv.get(',
      'kv.getPrefix(',
      'kv.put(',
      'kv.delete(',
      'config.setMany(',
      'config.rollout$(',
      'config.rolledOut(',
    ]) {
      assert.ok(calls.includes(entry), `no bad-input row calls ${entry}`);
    }
  });

  test('inputs at the edge of each rule are accepted (the rules do not over-reject)', async () => {
    const { concord } = handles;
    const edge = new Concord({
      endpoints: cluster.endpoints,
      namespace: 'bad-input/edge/',
      logger: console,
      callTimeoutMs: 1,
      probeIntervalMs: 10,
      autoSyncIntervalMs: 100,
      watch: { stallTimeoutMs: 100, progressIntervalMs: 10, pageSize: 100_000, maxBuffered: 1 },
    });
    await edge.close();
    for (const off of [0, false] as const) {
      await new Concord({
        endpoints: cluster.endpoints,
        autoSyncIntervalMs: off,
        watch: { progressIntervalMs: 0 },
      }).close();
    }
    const session = await concord.session({ ttl: 2 });
    await session.close();
    const permit = await concord.semaphore('edge-s', { permits: 1, ttl: 2 }).acquire();
    await permit.release();
    const config = concord.config('edge-c', { defaults: { a: { b: [1, 'x', null, true] } } });
    await config.set('s', '{not json: it is stored as a string}');
    assert.deepEqual(await config.load(), {
      a: { b: [1, 'x', null, true] },
      s: '{not json: it is stored as a string}',
    });
    await config.close();
  });

  for (const row of rows) {
    test(`${row.call} -> InvalidArgumentError(${row.argument})`, async () => {
      const before = await cluster.revision();
      const err = await outcome(() => row.run(handles));
      assert.ok(
        err instanceof InvalidArgumentError,
        `${row.call}: expected InvalidArgumentError(${row.argument}), got ${err === undefined ? 'success' : String(err)}`,
      );
      assert.equal(err.argument, row.argument, `${row.call}: ${err.message}`);
      assert.equal(err.code, 'INVALID_ARGUMENT');
      assert.ok(err.message.startsWith(`${row.argument} `), `the message names the argument: ${err.message}`);
      assert.ok(
        err.rule.length > 0 && err.message.includes(err.rule),
        `the message states the rule: ${err.message}`,
      );
      assert.equal(await cluster.revision(), before, `${row.call} wrote to etcd`);
    });
  }
});

/**
 * Runs `call` and returns what it failed with: a synchronous throw, a rejection, or the error of
 * a returned Observable (subscribed until its first event); undefined when it succeeded.
 */
async function outcome(call: () => unknown): Promise<unknown> {
  let result: unknown;
  try {
    result = call();
  } catch (err) {
    return err;
  }
  if (isObservable(result)) return firstEvent(result);
  if (result instanceof Promise) {
    try {
      await within(5_000, result);
    } catch (err) {
      return err;
    }
  }
  if (result instanceof Concord) await result.close();
  return undefined;
}

function firstEvent(stream: Observable<unknown>): Promise<unknown> {
  let subscription: Subscription | undefined;
  const settled = new Promise<unknown>((resolve) => {
    subscription = stream.subscribe({
      next: () => resolve(undefined),
      error: (err: unknown) => resolve(err),
      complete: () => resolve(undefined),
    });
  });
  // Whatever the outcome, the subscription ends with the row, so nothing keeps running after it.
  return within(5_000, settled)
    .catch((err: unknown) => err)
    .finally(() => subscription?.unsubscribe());
}

function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no outcome within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
