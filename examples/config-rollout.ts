// Config rollout demo: three instance processes follow one live config and report what they
// applied; a writer pushes a good change, then one the oldest instance's schema rejects, and
// prints each rollout as the instances acknowledge it.
//
//   npx tsx examples/config-rollout.ts               starts its own etcd (needs the etcd binary)
//   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/config-rollout.ts
//
// Exits 0 by itself once both rollouts are settled and the instances have stopped.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Concord, isConcordError, type RolloutStatus } from 'concord-etcd';
import { lastValueFrom, takeWhile, tap } from 'rxjs';
import { z } from 'zod';
import { ensureEtcd } from './support/local-etcd.js';

const PREFIX = 'demo/config-rollout/';
const TIMEOUT_MS = 60_000;

// The current release knows the 'trace' log level; web-3 still runs the previous one.
const levels = { current: ['debug', 'info', 'warn', 'trace'], previous: ['debug', 'info', 'warn'] } as const;
const schemaOf = (release: keyof typeof levels) =>
  z.object({
    db: z.object({ pool: z.number().int().min(1).max(100) }),
    logLevel: z.enum(levels[release]),
  });
const defaults = { db: { pool: 10 }, logLevel: 'info' } as const;

/** One instance process: follows the config as `id`, prints what it runs and what it rejects. */
async function instance(id: string, release: keyof typeof levels): Promise<void> {
  const log = (line: string) => console.log(`[${id}]${' '.repeat(Math.max(1, 7 - id.length))}${line}`);
  const concord = new Concord();
  const config = concord.config(PREFIX, { schema: schemaOf(release), defaults, instance: id });
  config.value$.subscribe((c) => log(`running db.pool=${c.db.pool} logLevel=${c.logLevel}`));
  config.errors$.subscribe((e) => log(`rejected revision ${e.revision}: ${e.issues.join('; ')}`));
  await config.load();
  // Stopping: close() removes the instance's status before the process goes.
  process.once('SIGTERM', () => {
    void config
      .close()
      .then(() => concord.close())
      .then(() => process.exit(0));
  });
}

function show(status: RolloutStatus): string {
  const list = (ids: readonly string[]) => `[${ids.join(', ')}]`;
  const rejected = status.rejected.map((r) => r.instance);
  return `revision ${status.revision}: applied ${list(status.applied)} · rejected ${list(rejected)} · pending ${list(status.pending)}`;
}

/** The main process: starts the instances, then rolls out two changes and prints each rollout. */
async function writer(): Promise<void> {
  const log = (line: string) => console.log(`[writer] ${line}`);
  const etcd = await ensureEtcd(log);
  const concord = new Concord();
  const children: ChildProcess[] = [];
  const timer = setTimeout(() => {
    log(`gave up after ${TIMEOUT_MS} ms`);
    for (const child of children) child.kill('SIGKILL');
    process.exit(1);
  }, TIMEOUT_MS);
  try {
    await concord.etcd.delete().prefix(PREFIX);
    const config = concord.config(PREFIX, { schema: schemaOf('current'), defaults });
    const { revision: start } = await config.set('db/pool', 10);
    for (const [id, release] of [
      ['web-1', 'current'],
      ['web-2', 'current'],
      ['web-3', 'previous'],
    ] as const) {
      const args = [...process.execArgv, fileURLToPath(import.meta.url), 'instance', id, release];
      children.push(spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] }));
    }
    await config.rolledOut(start, { instances: 3 });
    log('3 instances are live');

    for (const [path, value] of [
      ['db/pool', 20],
      ['logLevel', 'trace'],
    ] as const) {
      const { revision } = await config.set(path, value);
      log(`set ${path} = ${JSON.stringify(value)} at revision ${revision}`);
      // Every step of the rollout, until no live instance is pending.
      const printed = lastValueFrom(
        config.rollout$(revision).pipe(
          tap((status) => log(`  ${show(status)}`)),
          takeWhile((status) => status.pending.length > 0, true),
        ),
      );
      try {
        const done = await config.rolledOut(revision, { signal: AbortSignal.timeout(20_000) });
        log(`revision ${revision} rolled out to ${done.applied.join(', ')}`);
      } catch (err) {
        if (!isConcordError(err, 'ROLLOUT_REJECTED')) throw err;
        for (const r of err.rejected)
          log(`revision ${revision} rejected by ${r.instance}: ${r.issues.join('; ')}`);
      }
      await printed;
    }

    const stopped = children.map((child) => new Promise((resolve) => child.once('exit', resolve)));
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(stopped);
    log('instances stopped');
    await concord.etcd.delete().prefix(PREFIX);
  } finally {
    clearTimeout(timer);
    await concord.close();
    await etcd.stop();
  }
}

const [role, id, release] = process.argv.slice(2);
await (role === 'instance' ? instance(id!, release as keyof typeof levels) : writer());
