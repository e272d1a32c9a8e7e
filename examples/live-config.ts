// Live config demo: one process prints its configuration live while a second process changes
// it, including one invalid change that set() refuses and one written behind concord's back
// (as `etcdctl put` would) that the watching process rejects while keeping its last good value.
//
//   npx tsx examples/live-config.ts               starts its own etcd (needs the etcd binary)
//   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/live-config.ts
//
// Exits 0 by itself once the printer has seen the writer's last change.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Concord, ConfigValidationError, ConflictError } from 'concord-etcd';
import { z } from 'zod';
import { ensureEtcd } from './support/local-etcd.js';

const PREFIX = 'demo/live-config/';
const TIMEOUT_MS = 60_000;

const Schema = z.object({
  db: z.object({ host: z.string().min(1), pool: z.number().int().min(1).max(100) }),
  features: z.object({ darkMode: z.boolean() }),
  logLevel: z.enum(['debug', 'info', 'warn']),
});
type AppConfig = z.infer<typeof Schema>;

const defaults = {
  db: { host: 'localhost', pool: 10 },
  features: { darkMode: false },
  logLevel: 'info',
} as const;

function show(config: AppConfig): string {
  return `db=${config.db.host}/pool=${config.db.pool} darkMode=${config.features.darkMode} logLevel=${config.logLevel}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The second process: changes the config step by step. */
async function writer(): Promise<void> {
  const log = (line: string) => console.log(`[writer]  ${line}`);
  await using concord = new Concord();
  await using config = concord.config(PREFIX, { schema: Schema, defaults });
  await config.load();

  log('set db/pool = 20');
  await config.set('db/pool', 20);
  await sleep(200);

  log('set features/darkMode = true');
  await config.set('features/darkMode', true);
  await sleep(200);

  const revision = config.revisionOf('db/pool');
  log(`set db/pool = 25 if it is still at revision ${revision}`);
  await config.set('db/pool', 25, { ifRevision: revision });
  try {
    await config.set('db/pool', 26, { ifRevision: revision });
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    log(`a second set with the same, now stale, revision is refused: ${err.code}`);
  }
  await sleep(200);

  log('set db/pool = 1000 (the schema allows at most 100)');
  try {
    await config.set('db/pool', 1000);
  } catch (err) {
    if (!(err instanceof ConfigValidationError)) throw err;
    log(`refused before writing: ${err.issues.join('; ')}`);
  }
  await sleep(200);

  log('etcdctl-style raw put db/pool = "lots", bypassing the check');
  await concord.etcd.put(`${PREFIX}db/pool`).value('"lots"');
  await sleep(400);

  log('set db/pool = 30 and logLevel = debug (the fix)');
  await config.set('db/pool', 30);
  await config.set('logLevel', 'debug');
}

/** The main process: prints every config change, starting the writer once it is watching. */
async function printer(): Promise<void> {
  const log = (line: string) => console.log(`[printer] ${line}`);
  const etcd = await ensureEtcd(log);
  const concord = new Concord();
  try {
    await concord.etcd.delete().prefix(PREFIX);
    const config = concord.config(PREFIX, { schema: Schema, defaults });
    let done!: () => void;
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    const printing = config.value$.subscribe((value) => {
      log(`config: ${show(value)}`);
      if (value.db.pool === 30 && value.logLevel === 'debug') done();
    });
    config.errors$.subscribe((error) => {
      log(`rejected revision ${error.revision} (key ${error.key}): ${error.issues.join('; ')}`);
      log(`still using: ${show(config.current())}`);
    });
    await config.load();

    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), 'writer'], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const timer = setTimeout(() => {
      log(`gave up after ${TIMEOUT_MS} ms`);
      child.kill();
      process.exit(1);
    }, TIMEOUT_MS);
    const code = await exited;
    if (code !== 0) throw new Error(`the writer exited with ${code}`);
    await finished;
    clearTimeout(timer);
    log(`final: ${show(config.current())}`);
    printing.unsubscribe();
    await config.close();
    await concord.etcd.delete().prefix(PREFIX);
  } finally {
    await concord.close();
    await etcd.stop();
  }
}

await (process.argv[2] === 'writer' ? writer() : printer());
