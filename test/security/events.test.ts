// Events and metrics carry no secret: a Concord with a password and a TLS client key does a bit of
// everything (locks, an election, a session, a watch, config, a registration, refused and failed
// calls) against an etcd with TLS and authentication; neither the password nor the key (nor a
// value written) appears in any event as JSON or in any metric attribute.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Concord, type Leadership } from 'concord-etcd';
import { instrument } from 'concord-etcd/otel';
import { makeCertificates, type TestPki, tlsServerArgs } from '../support/certs.js';
import { type EtcdCluster, startCluster } from '../support/etcd.js';
import { recordEvents, toJson } from '../support/events.js';
import { testMeters } from '../support/metrics.js';

const PASSWORD = 'events-S3cret-Pa55word';
const SECRET_VALUE = 'value-that-is-a-secret-token';

let pki: TestPki;
let cluster: EtcdCluster;

before(async () => {
  pki = makeCertificates();
  cluster = await startCluster({
    extraArgs: tlsServerArgs(pki),
    clientScheme: 'https',
    clientOptions: {
      credentials: {
        rootCertificate: Buffer.from(pki.ca.cert),
        certChain: Buffer.from(pki.client.cert),
        privateKey: Buffer.from(pki.client.key),
      },
    },
  });
  const admin = cluster.client();
  await admin.user('root').create('root-password-not-used');
  await admin.user('root').addRole('root');
  await admin.role('app').create();
  await admin.role('app').grant({ permission: 'Readwrite', range: admin.range({ prefix: 'app/' }) });
  await admin.user('alice').create(PASSWORD);
  await admin.user('alice').addRole('app');
  await admin.auth.authEnable();
});
after(async () => {
  await cluster?.stop();
  pki?.remove();
});

test('no event and no metric attribute carries the password, the TLS key or a value', async () => {
  const concord = new Concord({
    endpoints: cluster.endpoints,
    namespace: 'app/',
    auth: { username: 'alice', password: PASSWORD },
    tls: { ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key },
    callTimeoutMs: 3_000,
  });
  const meters = testMeters();
  const instrumentation = instrument(concord, { meterProvider: meters.provider });
  const log = recordEvents(concord);
  try {
    const lock = await concord.mutex('jobs').lock();
    await lock.txn([{ type: 'put', key: 'state', value: SECRET_VALUE }]);
    await lock.release();
    const election = concord.election('cron');
    const leaders = election.leader$.subscribe();
    const leadership = await new Promise<Leadership>((resolve, reject) => {
      election.campaign(SECRET_VALUE).subscribe({ next: resolve, error: reject });
    });
    await log.next('leader.changed', (e) => e.key === leadership.key);
    await leadership.resign();
    leaders.unsubscribe();
    const session = await concord.session({ ttl: 2 });
    await log.next('session.keepalive');
    await session.close();
    const config = concord.config('cfg');
    const values = config.value$.subscribe();
    await config.set('token', SECRET_VALUE);
    await log.next('config.applied');
    values.unsubscribe();
    const reg = await concord
      .registry()
      .register({ service: 'api', address: '10.0.0.1:80', meta: { token: SECRET_VALUE } });
    await reg.deregister();
    // Refused: alice may not read outside app/ (a failed call, PERMISSION_DENIED).
    await assert.rejects(concord.etcd.get('outside').string());
    await log.next('call.failed', (e) => e.code === 'PERMISSION_DENIED');

    const keyBody = pki.client.key
      .split('\n')
      .filter((line) => line.length > 0 && !line.startsWith('-----'))
      .join('');
    const secrets: Array<[string, string]> = [
      ['the password', PASSWORD],
      ['the TLS key', pki.client.key],
      ['the TLS key body', keyBody],
      ['a value', SECRET_VALUE],
    ];
    const lines = log.json();
    assert.ok(lines.length > 20, `a good sample of events: ${lines.length}`);
    const points = await meters.collect();
    const attributes = points.map((p) => toJson(p.attributes));
    for (const [label, secret] of secrets) {
      for (const line of lines) assert.ok(!line.includes(secret), `an event carries ${label}: ${line}`);
      for (const line of attributes)
        assert.ok(!line.includes(secret), `a metric attribute carries ${label}: ${line}`);
    }
    // The key body in pieces, too: any 16 characters of it.
    for (let i = 0; i + 16 <= keyBody.length; i += 16) {
      const piece = keyBody.slice(i, i + 16);
      assert.ok(!lines.some((line) => line.includes(piece)), 'an event carries part of the TLS key');
    }
    const types = new Set(log.events.map((e) => e.type));
    for (const type of [
      'lock.acquired',
      'election.elected',
      'session.state',
      'registration.state',
      'call.failed',
    ]) {
      assert.ok(types.has(type as never), `the sample includes ${type}`);
    }
  } finally {
    log.stop();
    instrumentation.stop();
    await concord.close();
    await meters.shutdown();
  }
});
