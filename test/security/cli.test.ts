// The concord-etcd bin against a secured etcd: --user with the password from CONCORD_PASSWORD or
// standard input (never argv), wrong credentials and missing permissions (exit 122), and TLS with
// --cacert, --cert and --key. No credential may ever show in what the bin prints.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { enableAuth } from '../support/auth.js';
import { makeCertificates, type TestPki, tlsCluster } from '../support/certs.js';
import { cleanupCli, runCli } from '../support/cli.js';
import { type EtcdCluster, startCluster } from '../support/etcd.js';

// A hang fails the test (and its after hooks kill the bins) instead of stalling the run.
const TEST_TIMEOUT_MS = 120_000;

after(cleanupCli);

const ROOT_PASSWORD = 'r00t-Pa55word-for-cli';
const ALICE_PASSWORD = 'alice-Cli-S3cret';

describe('--user against etcd with authentication', () => {
  let cluster: EtcdCluster;

  before(async () => {
    cluster = await startCluster();
    await cluster.client().put('app/db/pool').value('20');
    await enableAuth(cluster, { root: ROOT_PASSWORD, alice: ALICE_PASSWORD });
  });
  after(() => cluster?.stop());

  const asAlice = (...args: string[]) => [
    ...args,
    '--user',
    'alice',
    '--endpoints',
    cluster.endpoints.join(','),
  ];

  test('the password from CONCORD_PASSWORD, or the first line of standard input', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const [fromEnv, fromStdin] = await Promise.all([
      runCli(asAlice('config', 'get', 'app'), { env: { CONCORD_PASSWORD: ALICE_PASSWORD } }),
      runCli(asAlice('config', 'get', 'app'), { stdin: `${ALICE_PASSWORD}\nnot the password\n` }),
    ]);
    for (const run of [fromEnv, fromStdin]) {
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(run.lines.find((l) => l.json)!.json!.value, { db: { pool: 20 } });
    }
  });

  test('a wrong password, no password, or a prefix without permission: exit 122 (or 2), one line, no secret shown', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const [wrong, none, denied] = await Promise.all([
      runCli(asAlice('config', 'get', 'app'), { env: { CONCORD_PASSWORD: 'wrong-Pa55word-cli' } }),
      runCli(asAlice('config', 'get', 'app')),
      runCli(asAlice('watch', 'secret/'), { env: { CONCORD_PASSWORD: ALICE_PASSWORD } }),
    ]);
    assert.equal(wrong.code, 122, wrong.stderr);
    assert.match(wrong.stderr, /rejected the credentials/);
    assert.equal(none.code, 2, none.stderr);
    assert.match(
      none.stderr,
      /no password: set CONCORD_PASSWORD or write it as the first line of standard input/,
    );
    assert.equal(denied.code, 122, denied.stderr);
    assert.match(denied.stderr, /permission/);
    for (const run of [wrong, none, denied]) {
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
      for (const secret of [ALICE_PASSWORD, 'wrong-Pa55word-cli']) {
        assert.ok(!run.stdout.includes(secret) && !run.stderr.includes(secret), 'no password in the output');
      }
    }
  });
});

describe('TLS: --cacert, --cert, --key', () => {
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

  test('with the CA and a client certificate it works; without the client certificate it fails fast', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const endpoints = ['--endpoints', cluster.endpoints.join(','), '--connect-timeout', '3000'];
    const [ok, noClientCert] = await Promise.all([
      runCli([
        'status',
        '--once',
        '--cacert',
        pki.ca.certFile,
        '--cert',
        pki.client.certFile,
        '--key',
        pki.client.keyFile,
        ...endpoints,
      ]),
      runCli(['status', '--once', '--cacert', pki.ca.certFile, ...endpoints]),
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((ok.lines.find((l) => l.json)!.json!.endpoints as { ok: boolean }[])[0]!.ok, true);
    assert.ok(
      noClientCert.code === 121 || noClientCert.code === 122,
      `no client certificate: exit ${noClientCert.code} ${noClientCert.stderr}`,
    );
    assert.equal(noClientCert.stderr.trim().split('\n').length, 1, noClientCert.stderr);
  });
});
