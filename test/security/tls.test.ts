// concord over TLS with client certificate auth, against a real etcd started with
// --client-cert-auth. The PKI is made with openssl for this run only (test/support/certs.ts).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  AuthenticationFailedError,
  Concord,
  type ConcordTls,
  type Leadership,
  NotConnectedError,
} from 'concord-etcd';
import { filter, firstValueFrom, lastValueFrom, type Subscription, take, toArray } from 'rxjs';
import { makeCertificates, type TestPki, tlsCluster } from '../support/certs.js';
import { type EtcdCluster, startCluster } from '../support/etcd.js';
import { type CapturedLogs, captureLogs } from './logs.js';

// A bad TLS setup must be reported well within this; a hang would run into the test timeout.
const FAIL_FAST_MS = 10_000;

describe('TLS with client certificates', () => {
  let pki: TestPki;
  let cluster: EtcdCluster;

  before(async () => {
    pki = makeCertificates();
    cluster = await startCluster(tlsCluster(pki));
  });
  after(async () => {
    await cluster?.stop();
    pki?.remove();
  });

  function connect(tls: ConcordTls | undefined, logs?: CapturedLogs): Concord {
    return new Concord({
      endpoints: cluster.endpoints,
      ...(tls ? { tls } : {}),
      ...(logs ? { logger: logs.logger } : {}),
      callTimeoutMs: 2_000,
    });
  }

  test('with the CA and a client certificate, KV, watch, view, session and election all work', async () => {
    const logs = captureLogs();
    const concord = connect({ ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key }, logs);
    let campaign: Subscription | undefined;
    try {
      const events = firstValueFrom(
        concord.watch({ prefix: 'tls/' }).pipe(
          filter((b) => b.type === 'events'),
          take(1),
        ),
      );
      // The watch is established once its first batch (progress at the start revision) arrives.
      await firstValueFrom(concord.watch({ prefix: 'tls/' }));
      await concord.etcd.put('tls/a').value('1');
      const batch = await events;
      assert.equal(batch.type, 'events');
      assert.equal(batch.type === 'events' && batch.events[0]?.kv.value.toString(), '1');

      const view = await firstValueFrom(concord.view({ prefix: 'tls/' }));
      assert.deepEqual([...view.entries.keys()], ['tls/a']);

      const session = await concord.session({ ttl: 5 });
      assert.match(session.leaseId, /^\d+$/);
      const lock = await concord.mutex('tls-m', { session }).lock();
      assert.equal(await lock.txn([{ type: 'put', key: 'tls/locked', value: 'y' }]), true);
      await lock.release();
      // Holding the subscription holds the candidacy (unsubscribing resigns).
      const elected = new Promise<Leadership>((resolve, reject) => {
        campaign = concord.election('tls-e').campaign('me').subscribe({ next: resolve, error: reject });
      });
      const leadership = await elected;
      assert.equal((await concord.election('tls-e').leader())?.value, 'me');
      assert.equal(await leadership.txn([{ type: 'put', key: 'tls/fenced', value: 'x' }]), true);
      await leadership.resign();
      await session.close();
      // Buffers work as well as PEM text.
      const viaBuffers = connect({
        ca: Buffer.from(pki.ca.cert),
        cert: Buffer.from(pki.client.cert),
        key: Buffer.from(pki.client.key),
      });
      try {
        assert.equal(await viaBuffers.etcd.get('tls/fenced').string(), 'x');
      } finally {
        await viaBuffers.close();
      }
    } finally {
      campaign?.unsubscribe();
      await concord.close();
    }
    logs.assertNoSecret(pki.client.key, 'the client private key');
    logs.assertNoSecret('PRIVATE KEY', 'PEM key material');
  });

  test('https:// endpoints behave like bare host:port with the tls option', async () => {
    const concord = new Concord({
      endpoints: cluster.endpoints.map((e) => `https://${e}`),
      tls: { ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key },
    });
    try {
      const session = await concord.session({ ttl: 5 });
      await session.close();
    } finally {
      await concord.close();
    }
  });

  const refusals: Array<{ name: string; tls: () => ConcordTls; rule: RegExp }> = [
    {
      name: 'a CA that did not sign the server certificate',
      tls: () => ({ ca: pki.otherCa.cert, cert: pki.client.cert, key: pki.client.key }),
      rule: /TLS handshake failed/,
    },
    {
      name: 'no client certificate',
      tls: () => ({ ca: pki.ca.cert }),
      rule: /TLS handshake failed/,
    },
    {
      name: 'a client certificate from an untrusted CA',
      tls: () => ({ ca: pki.ca.cert, cert: pki.otherClient.cert, key: pki.otherClient.key }),
      rule: /TLS handshake failed/,
    },
  ];

  for (const refusal of refusals) {
    test(`${refusal.name}: every entry point fails fast with AuthenticationFailedError`, async () => {
      const logs = captureLogs();
      const concord = connect(refusal.tls(), logs);
      try {
        const started = Date.now();
        await assert.rejects(concord.session({ ttl: 5 }), (err: unknown) => {
          assert.ok(err instanceof AuthenticationFailedError, `session: got ${String(err)}`);
          assert.match(err.message, refusal.rule);
          return true;
        });
        await assert.rejects(firstValueFrom(concord.watch({ prefix: 'tls/' })), AuthenticationFailedError);
        await assert.rejects(firstValueFrom(concord.view({ prefix: 'tls/' })), AuthenticationFailedError);
        await assert.rejects(concord.mutex('tls-m').lock(), AuthenticationFailedError);
        await assert.rejects(concord.semaphore('tls-s', { permits: 2 }).acquire(), AuthenticationFailedError);
        await assert.rejects(concord.election('tls-e').leader(), AuthenticationFailedError);
        await assert.rejects(
          firstValueFrom(concord.election('tls-e').campaign('x')),
          AuthenticationFailedError,
        );
        await assert.rejects(
          concord.registry().register({ service: 'tls', address: '127.0.0.1:1' }, { ttl: 5 }),
          AuthenticationFailedError,
        );
        await assert.rejects(concord.config('tls-config').load(), AuthenticationFailedError);
        const elapsed = Date.now() - started;
        assert.ok(elapsed < FAIL_FAST_MS * 3, `all refusals took ${elapsed} ms`);
        // state$ never claims a connection that the handshake refused.
        const states = await lastValueFrom(concord.state$.pipe(take(1), toArray()));
        assert.notEqual(states[0], 'connected');
      } finally {
        await concord.close();
      }
      logs.assertNoSecret('PRIVATE KEY', 'PEM key material');
    });
  }

  test('a plaintext client against the TLS port fails fast with NotConnectedError, not a hang', async () => {
    const concord = connect(undefined);
    try {
      const started = Date.now();
      await assert.rejects(concord.session({ ttl: 5 }), NotConnectedError);
      assert.ok(Date.now() - started < FAIL_FAST_MS, `took ${Date.now() - started} ms`);
    } finally {
      await concord.close();
    }
  });
});
