import type { EtcdCluster } from '../../support/etcd.js';
import type { TcpProxy } from '../../support/proxy.js';
import { sleep } from '../../support/wait.js';
import type { Worker } from '../../support/worker.js';
import { describeFault, type Fault, type ScheduledFault } from './schedule.js';

/** One chaos client: its process and its proxies, one per member (index = member index). */
export interface ChaosClient {
  id: string;
  worker: Worker;
  proxies: TcpProxy[];
}

/**
 * Runs a fault schedule against a cluster and its clients, and records what actually happened
 * (when each fault started and ended, which member a kill-leader hit, what failed), so a failing
 * run can be read next to its seed.
 */
export class FaultInjector {
  /** What happened, in order, one line each. */
  readonly journal: string[] = [];
  /** How many faults of each kind were injected. */
  readonly injected: Record<string, number> = {};
  readonly #paused = new Set<ChaosClient>();
  /** Members killed and not yet answering again (a start can outlast the schedule's gap). */
  readonly #down = new Set<string>();
  #started = 0;

  constructor(
    private readonly cluster: EtcdCluster,
    private readonly clients: readonly ChaosClient[],
  ) {}

  /** Runs every fault at its offset from now; resolves once every one of them has ended. */
  async run(schedule: readonly ScheduledFault[]): Promise<void> {
    this.#started = Date.now();
    const running: Promise<void>[] = [];
    for (const scheduled of schedule) {
      const wait = this.#started + scheduled.at - Date.now();
      if (wait > 0) await sleep(wait);
      running.push(this.#inject(scheduled));
    }
    await Promise.all(running);
  }

  /**
   * Ends every fault that may still be in effect: resumes paused workers, restores every proxy,
   * starts every member that is down, and waits until every member answers.
   */
  async healAll(): Promise<void> {
    for (const client of this.#paused) client.worker.resume();
    this.#paused.clear();
    for (const client of this.clients) for (const proxy of client.proxies) proxy.restore();
    for (const member of this.cluster.members) {
      if (!member.running) {
        this.#note(`heal: starting ${member.name}`);
        await member.start();
      }
    }
    this.#down.clear();
    await this.cluster.waitHealthy(30_000);
    this.#note('healed: every member answers, every proxy forwards, no worker paused');
  }

  async #inject(scheduled: ScheduledFault): Promise<void> {
    const { fault } = scheduled;
    this.injected[fault.kind] = (this.injected[fault.kind] ?? 0) + 1;
    this.#note(`start ${describeFault(scheduled)}`);
    try {
      await this.#apply(fault);
    } catch (err) {
      this.#note(`${fault.kind} failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
  }

  async #apply(fault: Fault): Promise<void> {
    switch (fault.kind) {
      case 'kill-member':
      case 'kill-leader': {
        const member =
          fault.kind === 'kill-member'
            ? this.cluster.members[fault.member]!
            : await this.cluster.leader(3_000);
        // The schedule keeps kills apart, but a slow restart can outlast that gap: never take a
        // second member down, the cluster must keep its quorum.
        if (this.#down.size > 0) {
          this.#note(`${[...this.#down].join(',')} not back yet: kill of ${member.name} skipped`);
          return;
        }
        this.#down.add(member.name);
        await member.kill();
        this.#note(`killed ${member.name}${fault.kind === 'kill-leader' ? ' (the leader)' : ''}`);
        await sleep(fault.downMs);
        await member.start();
        this.#down.delete(member.name);
        this.#note(`restarted ${member.name}`);
        return;
      }
      case 'cut':
        for (const proxy of this.#client(fault.worker).proxies) proxy.cut();
        return;
      case 'blackhole':
      case 'blackhole-path': {
        const { proxies } = this.#client(fault.worker);
        const affected = fault.kind === 'blackhole' ? proxies : [proxies[fault.member]!];
        for (const proxy of affected) proxy.blackhole();
        await sleep(fault.durationMs);
        for (const proxy of affected) proxy.restore();
        this.#note(
          `restored w${fault.worker}'s ${fault.kind === 'blackhole' ? 'paths' : `path to m${fault.member}`}`,
        );
        return;
      }
      case 'pause': {
        const client = this.#client(fault.worker);
        client.worker.pause();
        this.#paused.add(client);
        await sleep(fault.durationMs);
        client.worker.resume();
        this.#paused.delete(client);
        this.#note(`resumed w${fault.worker}`);
        return;
      }
      case 'compact': {
        const revision = await this.cluster.compact();
        this.#note(`compacted at revision ${revision}`);
        return;
      }
    }
  }

  #client(index: number): ChaosClient {
    return this.clients[index]!;
  }

  #note(line: string): void {
    this.journal.push(`${((Date.now() - this.#started) / 1000).toFixed(1).padStart(6)}s ${line}`);
  }
}
