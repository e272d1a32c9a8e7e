// `npm run bench [-- --quick] [-- --only id1,id2] [-- --events]`: starts a single-member etcd (data on
// tmpfs), runs every scenario for concord and for the plain etcd3 way in alternating rounds,
// and writes the results. A full run writes bench/results/latest.{json,md,svg} and refreshes the
// README's Performance section; quick or partial runs write to bench/results/tmp/. Progress goes
// to stderr. Exits 1 when any scenario failed (not on slow figures: timings are not gated).
// --events gives every Concord the bench creates an events$ subscriber (it counts the events), to
// measure what observing costs; such a run writes bench/results/tmp/<mode>-events.*.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type EtcdCluster, startCluster } from '../test/support/etcd.js';
import { loadConcord } from './lib/concord.js';
import { serverWatchers } from './lib/etcd.js';
import { describeMachine } from './lib/machine.js';
import { toMarkdown } from './lib/markdown.js';
import { progress } from './lib/progress.js';
import { updateReadme } from './lib/readme.js';
import type { BenchRun } from './lib/report-types.js';
import { Scope } from './lib/scope.js';
import { toSvg } from './lib/svg.js';
import type { Scenario, ScenarioResult } from './lib/types.js';
import { scenarios } from './scenarios/index.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

interface Args {
  quick: boolean;
  only: string[] | undefined;
  events: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, only: undefined, events: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') args.quick = true;
    else if (arg === '--events') args.events = true;
    else if (arg === '--only') args.only = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (arg.startsWith('--only=')) args.only = arg.slice('--only='.length).split(',').filter(Boolean);
    else throw new Error(`unknown argument ${arg} (use --quick, --only id1,id2, --events)`);
  }
  const known = new Set(scenarios.map((s) => s.id));
  const unknown = args.only?.filter((id) => !known.has(id)) ?? [];
  if (unknown.length > 0)
    throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${[...known].join(', ')}`);
  return args;
}

// An error nobody caught (a dangling promise of a timed-out scenario, a throwing callback) must
// not end the run without a report: it fails the scenario running at the time, and the run goes on.
let strays: string[] = [];
const stray = (reason: unknown) => {
  strays.push(reason instanceof Error ? reason.message : String(reason));
  process.stderr.write(
    `uncaught: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}\n`,
  );
};
process.on('unhandledRejection', stray);
process.on('uncaughtException', stray);

async function runScenario(
  scenario: Scenario,
  index: number,
  total: number,
  cluster: EtcdCluster,
  args: Args,
): Promise<ScenarioResult> {
  const { quick } = args;
  const tag = `[${index + 1}/${total}] ${scenario.id}`;
  const say = (message: string) => progress(`${tag} · ${message}`);
  const budget = quick ? scenario.budgetMs.quick : scenario.budgetMs.full;
  const abort = new AbortController();
  const timer = setTimeout(
    () => abort.abort(new Error(`scenario exceeded its ${budget / 1000} s budget`)),
    budget,
  );
  const scope = new Scope(cluster.endpoints, { events: args.events });
  const started = performance.now();
  strays = [];
  say(`start: ${scenario.title}`);
  let result: ScenarioResult;
  try {
    const outcome = await Promise.race([
      scenario.run({ quick, cluster, scope, signal: abort.signal, progress: say }),
      new Promise<never>((_, reject) =>
        abort.signal.addEventListener('abort', () => reject(abort.signal.reason), { once: true }),
      ),
    ]);
    result = {
      id: scenario.id,
      title: scenario.title,
      status: outcome.unavailable ? 'unavailable' : 'ok',
      durationMs: 0,
      ...outcome,
    };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    say(`FAILED: ${message}`);
    if (err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    result = { id: scenario.id, title: scenario.title, status: 'error', error: message, durationMs: 0 };
  } finally {
    clearTimeout(timer);
    abort.abort(new Error('scenario finished'));
  }
  const problems = await scope.close();
  if (args.events) {
    const seen = `events$ subscribers received ${scope.eventsSeen.toLocaleString('en-US')} events.`;
    result.notes = [...(result.notes ?? []), seen];
  }
  // Every watch the scenario opened must be gone before the next one starts (and measures
  // server watchers): a leftover is reported, since it means a leak in concord or the bench.
  const leftover = await settleWatchers(cluster);
  if (leftover > 0) problems.push(`${leftover} server watcher(s) still open 15 s after cleanup`);
  if (problems.length > 0) {
    say(`cleanup problems: ${problems.join('; ')}`);
    result.notes = [...(result.notes ?? []), `Cleanup problems: ${problems.join('; ')}.`];
  }
  if (strays.length > 0 && result.status !== 'error') {
    result = { ...result, status: 'error', error: `uncaught error: ${strays[0]}` };
  }
  result.durationMs = Math.round(performance.now() - started);
  say(
    `${result.status} in ${(result.durationMs / 1000).toFixed(1)} s${result.unavailable ? ` (concord side: ${result.unavailable})` : ''}`,
  );
  return result;
}

/** Waits up to 15 s for etcd to report no watchers; returns how many are left. */
async function settleWatchers(cluster: EtcdCluster): Promise<number> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const open = await serverWatchers(cluster);
    if (open === 0 || Date.now() > deadline) return open;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const selected = args.only ? scenarios.filter((s) => args.only!.includes(s.id)) : scenarios;
  const machine = describeMachine();
  progress(
    `concord bench: ${args.quick ? 'quick' : 'full'} run of ${selected.length} scenario(s); starting etcd ${machine.etcd}`,
  );
  const started = performance.now();
  await loadConcord();
  const cluster = await startCluster();
  const results: ScenarioResult[] = [];
  try {
    for (const [i, scenario] of selected.entries()) {
      results.push(await runScenario(scenario, i, selected.length, cluster, args));
    }
  } finally {
    await cluster.stop();
  }
  const run: BenchRun = {
    generatedAt: new Date().toISOString(),
    mode: args.quick ? 'quick' : 'full',
    partial: selected.length !== scenarios.length,
    ...(args.events ? { eventsSubscriber: true } : {}),
    machine,
    durationMs: Math.round(performance.now() - started),
    scenarios: results,
  };
  const official = !args.quick && !run.partial && !args.events;
  const dir = official ? join(ROOT, 'bench/results') : join(ROOT, 'bench/results/tmp');
  const base = official ? 'latest' : `${run.mode}${args.events ? '-events' : ''}`;
  mkdirSync(dir, { recursive: true });
  const markdown = toMarkdown(run);
  writeFileSync(join(dir, `${base}.json`), `${JSON.stringify(run, null, 2)}\n`);
  writeFileSync(join(dir, `${base}.md`), markdown);
  writeFileSync(join(dir, `${base}.svg`), toSvg(run));
  if (official) updateReadme(ROOT);
  process.stdout.write(markdown);
  const failed = results.filter((r) => r.status === 'error');
  progress(
    `done in ${(run.durationMs / 1000).toFixed(0)} s: wrote ${join(dir, base)}.{json,md,svg}${official ? ' and the README Performance section' : ''}; ${failed.length} scenario(s) failed${failed.length ? `: ${failed.map((f) => f.id).join(', ')}` : ''}`,
  );
  return failed.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
