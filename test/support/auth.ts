import type { EtcdCluster } from './etcd.js';

/**
 * Turns on etcd authentication in `cluster` with a `root` user and `alice`, whose role `app` may
 * read and write only the keys under `app/`. Clients must log in from then on (the cluster's
 * own `client()` included).
 */
export async function enableAuth(
  cluster: EtcdCluster,
  passwords: { root: string; alice: string },
): Promise<void> {
  const admin = cluster.client();
  await admin.user('root').create(passwords.root);
  await admin.user('root').addRole('root');
  await admin.role('app').create();
  await admin.role('app').grant({ permission: 'Readwrite', range: admin.range({ prefix: 'app/' }) });
  await admin.user('alice').create(passwords.alice);
  await admin.user('alice').addRole('app');
  await admin.auth.authEnable();
}
