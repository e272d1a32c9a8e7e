import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { after } from 'node:test';
import { Etcdctl } from '../support/etcdctl.js';
import type { ClusterFixture } from '../support/fixture.js';
import { sleep, waitUntil } from '../support/wait.js';

/** Starts etcdctl commands against `shared`'s cluster and stops the ones still running after the file's tests. */
export function etcdctlOf(shared: ClusterFixture): (...args: string[]) => Etcdctl {
  const started: Etcdctl[] = [];
  after(async () => {
    await Promise.all(started.map((c) => c.stop('SIGKILL')));
  });
  return (...args) => {
    const command = new Etcdctl(
      shared.cluster.members.map((m) => m.clientUrl),
      args,
    );
    started.push(command);
    return command;
  };
}

/** The keys under `prefix`, oldest create revision first. */
export async function queue(shared: ClusterFixture, prefix: string): Promise<string[]> {
  return shared.cluster.client().getAll().prefix(prefix).sort('Create', 'Ascend').keys();
}

/** One contender of a mixed Go/concord queue: resolves once it holds; `release` gives it up. */
export interface Contender {
  readonly name: string;
  readonly holds: Promise<unknown>;
  release(): Promise<unknown>;
}

/**
 * Lets the contenders (queued in this order behind a holder `first` that the caller releases with
 * `releaseFirst`) take their turns: waits for each acquisition, checks that nobody else acquired
 * meanwhile (exclusion) and releases it. Resolves with the order of acquisition.
 */
export async function takeTurns(
  t: TestContext,
  releaseFirst: () => Promise<unknown>,
  contenders: readonly Contender[],
): Promise<string[]> {
  const order: string[] = [];
  const at = new Map<string, number>();
  for (const c of contenders) {
    void c.holds.then(
      () => {
        order.push(c.name);
        at.set(c.name, performance.now());
      },
      () => undefined,
    );
  }
  let released = performance.now();
  await releaseFirst();
  const handoffs: string[] = [];
  for (let i = 0; i < contenders.length; i++) {
    await waitUntil(() => order.length > i, { timeoutMs: 15_000, message: `acquisition ${i + 1}` });
    const holder = order[i]!;
    handoffs.push(`${holder} ${Math.round(at.get(holder)! - released)} ms`);
    // Nobody else may acquire while it holds: give a wrong second holder time to show up.
    await sleep(150);
    assert.equal(order.length, i + 1, `${order.slice(i + 1).join(', ')} acquired while ${holder} held`);
    released = performance.now();
    await contenders.find((c) => c.name === holder)!.release();
  }
  t.diagnostic(`handoffs after each release: ${handoffs.join(', ')}`);
  return order;
}
