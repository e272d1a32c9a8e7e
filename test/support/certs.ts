import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterOptions } from './etcd.js';
import { releaseDir, trackDir } from './processes.js';

/** One certificate and its private key, as files (for etcd's flags) and as PEM text (for clients). */
export interface CertPair {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

/** A throwaway PKI made by {@link makeCertificates}. */
export interface TestPki {
  /** The folder holding every file; removed by `remove()` (and when the process exits). */
  dir: string;
  /** The CA that signed `server` and `client`. */
  ca: CertPair;
  /** Server certificate for 127.0.0.1 / localhost, signed by `ca`. */
  server: CertPair;
  /** Client certificate (CN `concord-client`, extended key usage clientAuth), signed by `ca`. */
  client: CertPair;
  /** An unrelated CA, plus a client certificate it signed: what a misconfigured client would hold. */
  otherCa: CertPair;
  otherClient: CertPair;
  /** Deletes `dir`. Idempotent. */
  remove(): void;
}

/**
 * Creates a fresh CA, a server certificate valid for 127.0.0.1 and localhost, a client
 * certificate, and a second unrelated CA with its own client certificate, with the `openssl`
 * command line (EC P-256 keys, so this takes well under a second). Nothing is cached between
 * runs: every test suite gets its own keys.
 */
export function makeCertificates(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'concord-pki-'));
  trackDir(dir);
  const ca = makeCa(dir, 'ca', 'concord test CA');
  const otherCa = makeCa(dir, 'other-ca', 'concord unrelated CA');
  const server = makeLeaf(dir, 'server', ca, 'etcd-server', [
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    'extendedKeyUsage=serverAuth,clientAuth',
    'keyUsage=critical,digitalSignature,keyEncipherment',
  ]);
  const clientExt = ['extendedKeyUsage=clientAuth', 'keyUsage=critical,digitalSignature,keyEncipherment'];
  const client = makeLeaf(dir, 'client', ca, 'concord-client', clientExt);
  const otherClient = makeLeaf(dir, 'other-client', otherCa, 'concord-client', clientExt);
  return {
    dir,
    ca,
    server,
    client,
    otherCa,
    otherClient,
    remove() {
      rmSync(dir, { recursive: true, force: true });
      releaseDir(dir);
    },
  };
}

/** etcd flags serving client TLS with `pki.server`, requiring client certificates signed by `pki.ca`. */
export function tlsServerArgs(pki: TestPki): string[] {
  return [
    `--cert-file=${pki.server.certFile}`,
    `--key-file=${pki.server.keyFile}`,
    '--client-cert-auth',
    `--trusted-ca-file=${pki.ca.certFile}`,
  ];
}

/**
 * What `startCluster` needs for a cluster serving client TLS with `pki` (client certificates
 * required), whose own clients (harness probes, `cluster.client()`) present `pki.client`.
 */
export function tlsCluster(pki: TestPki): ClusterOptions {
  return {
    extraArgs: tlsServerArgs(pki),
    clientScheme: 'https',
    clientOptions: {
      credentials: {
        rootCertificate: Buffer.from(pki.ca.cert),
        certChain: Buffer.from(pki.client.cert),
        privateKey: Buffer.from(pki.client.key),
      },
    },
  };
}

function makeCa(dir: string, name: string, subject: string): CertPair {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  genKey(keyFile);
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    keyFile,
    '-sha256',
    '-days',
    '2',
    '-subj',
    `/CN=${subject}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-out',
    certFile,
  ]);
  return read(certFile, keyFile);
}

function makeLeaf(dir: string, name: string, ca: CertPair, cn: string, extensions: string[]): CertPair {
  const keyFile = join(dir, `${name}.key`);
  const csrFile = join(dir, `${name}.csr`);
  const extFile = join(dir, `${name}.ext`);
  const certFile = join(dir, `${name}.crt`);
  genKey(keyFile);
  openssl(['req', '-new', '-key', keyFile, '-subj', `/CN=${cn}`, '-out', csrFile]);
  writeFileSync(extFile, `${['basicConstraints=CA:FALSE', ...extensions].join('\n')}\n`);
  openssl([
    'x509',
    '-req',
    '-in',
    csrFile,
    '-CA',
    ca.certFile,
    '-CAkey',
    ca.keyFile,
    '-CAcreateserial',
    '-sha256',
    '-days',
    '2',
    '-extfile',
    extFile,
    '-out',
    certFile,
  ]);
  return read(certFile, keyFile);
}

// PKCS#8 EC keys: both Go (etcd) and Node's TLS read them.
function genKey(keyFile: string): void {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyFile]);
}

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`openssl ${args[0]} failed: ${stderr || String(err)}`);
  }
}

function read(certFile: string, keyFile: string): CertPair {
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}
