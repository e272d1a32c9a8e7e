// One etcd cluster shared by the tests of a file (or of a describe block), set up and torn down
// by node:test hooks.
import { after, before } from 'node:test';
import { Concord } from '../../src/concord.js';
import type { ConcordOptions } from '../../src/options.js';
import { type ClusterOptions, type EtcdCluster, startCluster } from './etcd.js';
import { startProxy, type TcpProxy } from './proxy.js';

/** What {@link useCluster} starts: the cluster as {@link startCluster} takes it, and optional extras. */
export interface FixtureOptions extends ClusterOptions {
  /** Also start a TCP proxy in front of member 0 (the shared Concord, if any, connects through it). */
  proxy?: boolean;
  /** Also create one Concord with these options, connected to the cluster's endpoints (or the proxy). */
  concord?: Omit<ConcordOptions, 'endpoints'>;
}

/** What the tests share; each getter throws when it was not asked for or is read before `before` ran. */
export interface ClusterFixture {
  readonly cluster: EtcdCluster;
  readonly proxy: TcpProxy;
  readonly concord: Concord;
}

/**
 * Registers a `before` hook that starts a cluster (then the proxy, then the Concord, as asked) and
 * an `after` hook that closes the Concord, then the proxy, then stops the cluster; call it at the
 * top of a test file or describe block. Whatever `before` set up is cleaned up even when it failed
 * halfway. Hooks run in the order they were registered, so `after` hooks of the caller that are
 * registered later run once the cluster is gone.
 */
export function useCluster(options: FixtureOptions = {}): ClusterFixture {
  const { proxy: withProxy = false, concord: concordOptions, ...clusterOptions } = options;
  let cluster: EtcdCluster | undefined;
  let proxy: TcpProxy | undefined;
  let concord: Concord | undefined;
  before(async () => {
    cluster = await startCluster(clusterOptions);
    if (withProxy) proxy = await startProxy(cluster.endpoints[0]!);
    if (concordOptions)
      concord = new Concord({ ...concordOptions, endpoints: proxy ? proxy.endpoint : cluster.endpoints });
  });
  after(async () => {
    await concord?.close();
    await proxy?.close();
    await cluster?.stop();
  });
  return {
    get cluster() {
      return present(cluster, 'cluster');
    },
    get proxy() {
      return present(proxy, 'proxy');
    },
    get concord() {
      return present(concord, 'concord');
    },
  };
}

function present<T>(value: T | undefined, name: string): T {
  if (value === undefined)
    throw new Error(`useCluster(): no ${name} (ask for it in the options; read it in tests or hooks)`);
  return value;
}
