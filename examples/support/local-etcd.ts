// The etcd an example runs against: the user's (ETCD_ENDPOINTS), or a throwaway local one.

/** The etcd {@link ensureEtcd} settled on. */
export interface ExampleEtcd {
  /** Its client endpoints, comma separated (the value of ETCD_ENDPOINTS from now on). */
  readonly endpoints: string;
  /** Stops the throwaway etcd and removes its data dir; does nothing when ETCD_ENDPOINTS was given. */
  stop(): Promise<void>;
}

/**
 * Gives an example an etcd. When ETCD_ENDPOINTS is set, that is used as it is and stop() does
 * nothing. Otherwise it starts a single-member etcd on a random loopback port (the test harness's
 * startCluster; needs the etcd binary), sets process.env.ETCD_ENDPOINTS to it, so that every
 * `new Concord()` and every child process spawned afterwards uses it, and tells `log` that it is
 * starting and then where it listens. Its process is killed and its data dir removed by stop(),
 * and at the latest when this process exits. The harness (with its exit and signal handlers) is
 * imported only in that case, never by an example's child processes, which import this module too.
 */
export async function ensureEtcd(log: (line: string) => void): Promise<ExampleEtcd> {
  const given = process.env.ETCD_ENDPOINTS;
  if (given) return { endpoints: given, stop: async () => {} };
  log('ETCD_ENDPOINTS is not set: starting a throwaway local etcd');
  const { startCluster } = await import('../../test/support/etcd.js');
  const cluster = await startCluster();
  const endpoints = cluster.endpoints.join(',');
  process.env.ETCD_ENDPOINTS = endpoints;
  log(`listening on ${endpoints} (data in ${cluster.dir}, removed at exit)`);
  return { endpoints, stop: () => cluster.stop() };
}
