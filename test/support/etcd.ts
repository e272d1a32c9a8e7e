import { accessSync, constants, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Etcd3, IStatusResponse } from 'etcd3';
import { type ClientOptions, createTestClient } from './client.js';
import { resolveEtcdBinary } from './etcd-binary.js';
import { EtcdMember, EtcdStartError, type MemberConfig } from './etcd-member.js';
import { releaseDir, trackDir } from './processes.js';
import { freePort, sleep } from './wait.js';

export type { ClientOptions } from './client.js';
export { EtcdMember } from './etcd-member.js';

/** How to start a cluster with {@link startCluster}. */
export interface ClusterOptions {
  /** Number of members (default 1). */
  size?: 1 | 3;
  /** Passed as `--experimental-watch-progress-notify-interval` (e.g. '200ms'); etcd's default is 10 min. */
  progressNotifyInterval?: string;
  /** Appended to every member's command line (TLS, auth, quotas...). */
  extraArgs?: string[];
  /** Scheme of the client URLs (default http); with https, `extraArgs` must carry the cert flags. */
  clientScheme?: 'http' | 'https';
  /** Given to every client the harness makes (TLS credentials, auth), and used for /metrics over https. */
  clientOptions?: ClientOptions;
}

/** What every member of one cluster shares: all of its configuration but its name, folder, ports and peers. */
type MemberTemplate = Omit<
  MemberConfig,
  'name' | 'dir' | 'clientPort' | 'peerPort' | 'initialCluster' | 'join'
>;

const START_ATTEMPTS = 3;
// A key nobody writes: reading it is the cheapest request that still goes through raft's read index.
const PROBE_KEY = Buffer.from('\0concord-harness-probe');

/**
 * Starts `size` etcd members on random loopback ports with data dirs on tmpfs (/dev/shm when it
 * exists), and resolves once every member answers a linearizable read. Fails at once, with install
 * instructions, when no etcd binary is found (see resolveEtcdBinary); retries on fresh ports when
 * a port picked as free was taken meanwhile. Every process is killed when this process exits,
 * but tests should still `await cluster.stop()` (e.g. in `after()`).
 */
export async function startCluster(opts: ClusterOptions = {}): Promise<EtcdCluster> {
  const binary = resolveEtcdBinary();
  for (let attempt = 1; ; attempt++) {
    const cluster = await createCluster(binary, opts);
    try {
      await Promise.all(cluster.members.map((m) => m.start()));
      await cluster.waitHealthy();
      return cluster;
    } catch (err) {
      await cluster.stop();
      if (!(err instanceof EtcdStartError && err.addressInUse) || attempt >= START_ATTEMPTS) throw err;
    }
  }
}

/**
 * A set of etcd members forming one cluster, plus a shared assertion client. Members keep their
 * ports and data dirs for the cluster's lifetime, so they can be killed and started again.
 */
export class EtcdCluster {
  /** The members, in name order (m0, m1, m2); {@link replaceMember} puts a new member in its slot. */
  readonly members: EtcdMember[];
  /** Client addresses as 'host:port', in member order (kept in step with {@link members}). */
  readonly endpoints: string[];
  /** The scratch folder holding every member's data dir and log; removed by stop(). */
  readonly dir: string;

  readonly #clientOptions: ClientOptions;
  readonly #template: MemberTemplate;
  #client: Etcd3 | undefined;
  #stopped: Promise<void> | undefined;
  #replacements = 0;

  constructor(dir: string, members: EtcdMember[], template: MemberTemplate) {
    this.dir = dir;
    this.members = members;
    this.endpoints = members.map((m) => m.endpoint);
    this.#template = template;
    this.#clientOptions = template.clientOptions;
  }

  /**
   * Replaces member `index` the way an operator moves a member to another machine: `member
   * remove` (through the other members), SIGKILL of its process, `member add` of a new member on
   * new ports with a new name and an empty data dir, which then starts and joins. Resolves once
   * every running member answers a linearizable read; the new member takes the slot of the old
   * one in {@link members} and {@link endpoints}, and {@link client} follows the new membership.
   */
  async replaceMember(index: number): Promise<EtcdMember> {
    const old = this.members[index];
    if (old === undefined) throw new Error(`no member ${index}`);
    const others = this.members.filter((m) => m !== old && m.running).map((m) => m.clientUrl);
    const listed = await this.#admin(others, (c) =>
      c.cluster.memberList({}, { deadline: Date.now() + 5_000 }),
    );
    const id = listed.members.find((m) => m.name === old.name)?.ID;
    if (id === undefined) throw new Error(`member ${old.name} is not in the member list`);
    await this.#admin(others, (c) => c.cluster.memberRemove({ ID: id }, { deadline: Date.now() + 5_000 }));
    await old.kill();
    const name = `m${index}r${++this.#replacements}`;
    const [clientPort, peerPort] = await distinctFreePorts(2);
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const added = await this.#admin(others, (c) =>
      c.cluster.memberAdd({ peerURLs: [peerUrl] }, { deadline: Date.now() + 5_000 }),
    );
    const initialCluster = added.members
      .map((m) => `${m.name === '' ? name : m.name}=${m.peerURLs[0]}`)
      .join(',');
    const memberDir = join(this.dir, name);
    mkdirSync(memberDir);
    const member = new EtcdMember({
      ...this.#template,
      name,
      dir: memberDir,
      clientPort: clientPort!,
      peerPort: peerPort!,
      initialCluster,
      join: true,
    });
    this.members[index] = member;
    this.endpoints[index] = member.endpoint;
    this.#client?.close();
    this.#client = undefined;
    old.closeClient();
    await member.start();
    await this.waitHealthy();
    return member;
  }

  /**
   * Runs a membership call on a fresh client of `urls` (etcd3 resets a host's connections after an
   * UNAVAILABLE answer, which can leave a reused client stuck), again while etcd refuses it as
   * "unhealthy cluster" or it times out: with its strict reconfiguration check etcd changes
   * membership only once the leader has been connected to the other members for 5 s, so right
   * after a start or a replacement it refuses for a few seconds.
   */
  async #admin<T>(urls: string[], call: (client: Etcd3) => Promise<T>, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const client = createTestClient(urls, this.#clientOptions);
      try {
        return await call(client);
      } catch (err) {
        if (!/unhealthy cluster|deadline/i.test(String(err)) || Date.now() >= deadline) throw err;
        await sleep(250);
      } finally {
        client.close();
      }
    }
  }

  /**
   * A plain etcd3 client to every member (per-host circuit breaker replaced by a no-op policy, so
   * cancelled watches cannot lock it out), created on first use and closed by stop().
   */
  client(): Etcd3 {
    this.#client ??= createTestClient(
      this.members.map((m) => m.clientUrl),
      this.#clientOptions,
    );
    return this.#client;
  }

  /**
   * The current raft leader: asks every running member for its status and returns the one that
   * reports itself as leader (the highest raft term wins, so a just-resumed stale leader loses).
   * Retries for up to `timeoutMs` (default 10 s) while an election is in progress.
   */
  async leader(timeoutMs = 10_000): Promise<EtcdMember> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answers = await Promise.all(
        this.members
          .filter((m) => m.running && !m.paused)
          .map(async (member) => ({ member, status: await statusOf(member) })),
      );
      let best: { member: EtcdMember; term: bigint } | undefined;
      for (const { member, status } of answers) {
        if (status === undefined || status.leader === '0' || status.leader !== status.header.member_id)
          continue;
        const term = BigInt(status.raftTerm);
        if (best === undefined || term > best.term) best = { member, term };
      }
      if (best !== undefined) return best.member;
      if (Date.now() >= deadline) throw new Error(`no etcd leader found within ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  /** The current store revision, read linearizably through client(). */
  async revision(): Promise<bigint> {
    const res = await this.client().kv.range({ key: PROBE_KEY, count_only: true });
    return BigInt(res.header.revision);
  }

  /**
   * Compacts the store at `revision` (default: the current revision) with physical=true, so the
   * call returns only after the compaction is applied; resolves with the revision compacted at.
   */
  async compact(revision?: bigint): Promise<bigint> {
    const at = revision ?? (await this.revision());
    await this.client().kv.compact({ revision: at.toString(), physical: true });
    return at;
  }

  /**
   * Resolves once every running member answers a linearizable read on its own client port (so the
   * cluster has a leader and each member has joined); rejects after `timeoutMs` naming the members
   * that did not answer.
   */
  async waitHealthy(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const running = this.members.filter((m) => m.running);
      const failing: string[] = [];
      await Promise.all(
        running.map(async (m) => {
          const perCall = Math.max(200, Math.min(2000, deadline - Date.now()));
          try {
            await m
              .client()
              .kv.range({ key: PROBE_KEY, count_only: true }, { deadline: Date.now() + perCall });
          } catch (err) {
            failing.push(`${m.name}: ${err instanceof Error ? err.message : String(err)}`);
          }
        }),
      );
      if (failing.length === 0) return;
      if (Date.now() >= deadline) {
        throw new Error(`etcd cluster not healthy after ${timeoutMs} ms: ${failing.join('; ')}`);
      }
      await sleep(100);
    }
  }

  /**
   * SIGKILLs every member, waits for the exits, closes the clients and removes the scratch folder
   * (data dirs and logs). Idempotent: later calls return the first call's promise.
   */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      await Promise.all(this.members.map((m) => m.kill()));
      this.#client?.close();
      for (const m of this.members) m.closeClient();
      rmSync(this.dir, { recursive: true, force: true });
      releaseDir(this.dir);
    })();
    return this.#stopped;
  }

  /** Same as stop(), for `await using cluster = await startCluster()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

async function createCluster(binary: string, opts: ClusterOptions): Promise<EtcdCluster> {
  const size = opts.size ?? 1;
  const clientScheme = opts.clientScheme ?? 'http';
  const dir = mkdtempSync(join(scratchBase(), 'concord-etcd-'));
  trackDir(dir);
  const ports = await distinctFreePorts(size * 2);
  const names = Array.from({ length: size }, (_, i) => `m${i}`);
  const template: MemberTemplate = {
    binary,
    clientScheme,
    // Unique per cluster so members of two clusters started side by side never talk to each other.
    clusterToken: basename(dir),
    progressNotifyInterval: opts.progressNotifyInterval,
    extraArgs: opts.extraArgs ?? [],
    clientOptions: opts.clientOptions ?? {},
  };
  const initialCluster = names.map((name, i) => `${name}=http://127.0.0.1:${ports[2 * i + 1]}`).join(',');
  const members = names.map((name, i) => {
    const memberDir = join(dir, name);
    mkdirSync(memberDir);
    return new EtcdMember({
      ...template,
      name,
      dir: memberDir,
      clientPort: ports[2 * i]!,
      peerPort: ports[2 * i + 1]!,
      initialCluster,
    });
  });
  return new EtcdCluster(dir, members, template);
}

// tmpfs makes etcd's fsyncs free, which is most of its write latency.
function scratchBase(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

async function statusOf(member: EtcdMember): Promise<IStatusResponse | undefined> {
  try {
    return await member.client().maintenance.status({ deadline: Date.now() + 1000 });
  } catch {
    return undefined;
  }
}
