// The package as a user gets it: `npm pack` (which builds through `prepack`), the tarball's
// contents, publint and @arethetypeswrong/cli, then a fresh project in a temp dir that installs
// the tarball with its peer rxjs (and the app's own cockatiel 4) from the registry, compiles
// test/package/consumer/ with tsc --strict under every moduleResolution a user may pick, and runs
// its ESM and CommonJS programs against a real etcd on the current Node and on the `engines`
// floor, and runs the `concord-etcd` bin through npx (its --help, and a `lock` running a command
// against etcd). Needs the npm registry, or an npm cache that already holds these packages.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type EtcdCluster, startCluster } from '../support/etcd.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./consumer/', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  engines: { node: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
};
/** The lowest Node the package claims (`engines`): the programs must run on it. */
const NODE_FLOOR = floorOf(pkg.engines.node, /^>=(\d+\.\d+\.\d+)$/);
/** The lowest rxjs the peer range admits: the programs run with exactly this one. */
const RXJS_FLOOR = floorOf(pkg.peerDependencies.rxjs!, /^\^(7\.\d+\.\d+)$/);
/**
 * rxjs's exports map names its types from 7.5.5 on: with moduleResolution node16, nodenext or
 * bundler, TypeScript cannot type an older rxjs at all (the app's own imports of it neither), so
 * those compiles use this one and the peer floor is type-checked under node10.
 */
const RXJS_TYPED = '7.5.5';
const TARBALL_NAME = `${pkg.name}-${pkg.version}.tgz`;

let work = '';
let consumer = '';
let tarball = '';
let cluster: EtcdCluster | undefined;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'concord-etcd-package-'));
  consumer = join(work, 'consumer');
  tarball = join(work, TARBALL_NAME);
  const [started] = await Promise.all([startCluster(), npmPack()]);
  cluster = started;
  await install();
});

after(async () => {
  await cluster?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test(`npm pack makes ${TARBALL_NAME} of dist, README, LICENSE, CHANGELOG and package.json only`, async () => {
  const { stdout } = await run('tar', ['-tzf', tarball], work);
  const files = stdout.split('\n').filter(Boolean).sort();
  const allowed =
    /^package\/(package\.json|README\.md|LICENSE|CHANGELOG\.md|dist\/(index|otel)\.(js|cjs|d\.ts|d\.cts)(\.map)?|dist\/bin\/[\w-]+\.js(\.map)?)$/;
  assert.deepEqual(
    files.filter((f) => !allowed.test(f)),
    [],
    `unexpected files in the tarball:\n${files.join('\n')}`,
  );
  for (const needed of [
    'LICENSE',
    'README.md',
    'CHANGELOG.md',
    'dist/index.js',
    'dist/index.cjs',
    'dist/index.d.ts',
    'dist/index.d.cts',
    'dist/bin/concord-etcd.js',
    'dist/otel.js',
    'dist/otel.cjs',
    'dist/otel.d.ts',
    'dist/otel.d.cts',
  ]) {
    assert.ok(files.includes(`package/${needed}`), `${needed} is missing from the tarball`);
  }
  const installed = join(consumer, 'node_modules', pkg.name);
  assert.match(
    readFileSync(join(installed, 'LICENSE'), 'utf8'),
    /^MIT License[\s\S]*concord-etcd contributors/,
  );
  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
  assert.equal(manifest.license, 'MIT');
  assert.equal(manifest.author, 'concord-etcd contributors');
  for (const field of ['repository', 'homepage', 'bugs', 'keywords']) {
    assert.ok(manifest[field], `package.json has no ${field}`);
  }
  assert.equal(manifest.dependencies.rxjs, undefined, 'rxjs is a peer dependency, never a nested copy');
  assert.deepEqual(manifest.bin, { 'concord-etcd': 'dist/bin/concord-etcd.js' });
  assert.equal(manifest.dependencies['@opentelemetry/api'], undefined);
  assert.deepEqual(manifest.peerDependenciesMeta, { '@opentelemetry/api': { optional: true } });
  // The main entry never loads OpenTelemetry: only concord-etcd/otel does.
  for (const main of ['dist/index.js', 'dist/index.cjs']) {
    assert.ok(
      !readFileSync(join(installed, main), 'utf8').includes('@opentelemetry'),
      `${main} names @opentelemetry`,
    );
  }
  assert.match(
    readFileSync(join(installed, 'dist/otel.js'), 'utf8'),
    /from "concord-etcd"/,
    'otel uses the main entry',
  );
});

test('publint and @arethetypeswrong/cli find no problem in the tarball', async () => {
  await Promise.all([
    run(join(ROOT, 'node_modules/.bin/publint'), ['run', '--strict', tarball], work),
    run(join(ROOT, 'node_modules/.bin/attw'), ['--format', 'ascii', tarball], work),
  ]);
});

test(`the consumer compiles with tsc --strict under node16, nodenext and bundler resolution (rxjs ${RXJS_TYPED})`, async () => {
  // One compile at a time: `npm test` runs another test file beside this one, and three
  // compilers at once would starve its timing on two cores. nodenext also emits out/esm.mjs and
  // out/cjs.cjs, which the next test runs.
  for (const resolution of ['node16', 'nodenext', 'bundler']) await tsc(`tsconfig.${resolution}.json`);
  assert.ok(existsSync(join(consumer, 'out', 'esm.mjs')) && existsSync(join(consumer, 'out', 'cjs.cjs')));
});

test(`with rxjs ${RXJS_FLOOR}, the ESM and CommonJS programs work against etcd on Node ${process.versions.node} and ${NODE_FLOOR}`, async () => {
  await npm(['install', `rxjs@${RXJS_FLOOR}`]);
  await tsc('tsconfig.node10.json');
  const env = { ETCD_ENDPOINTS: cluster!.endpoints.join(',') };
  const floor = ['exec', '--yes', `--package=node@${NODE_FLOOR}`, '--', 'node'];
  const runs = await Promise.all([
    run(process.execPath, ['out/esm.mjs'], consumer, env),
    run(process.execPath, ['out/cjs.cjs'], consumer, env),
    run('npm', [...floor, 'out/esm.mjs'], consumer, env),
    run('npm', [...floor, 'out/cjs.cjs'], consumer, env),
  ]);
  const [esm, cjs, esmFloor, cjsFloor] = runs.map(({ stdout }) =>
    JSON.parse(stdout.trim().split('\n').at(-1)!),
  );
  const esmExpected = {
    module: 'esm',
    sameRxjs: true,
    fencingToken: 'bigint',
    committed: true,
    releasedOnDispose: true,
    term: 'bigint',
    leader: 'esm-program',
    viewed: 'done',
    sameBuildInstanceof: true,
    sameBuildGuard: true,
    otherBuildInstanceof: false,
    otherBuildGuard: true,
    closed: true,
    otel: 'stopped',
  };
  const cjsExpected = {
    module: 'cjs',
    sameRxjs: true,
    permitToken: 'bigint',
    discovered: ['127.0.0.1:9000'],
    config: 20,
    sameBuildInstanceof: true,
    otherBuildInstanceof: false,
    otherBuildGuard: true,
    otel: 'stopped',
  };
  assert.deepEqual(esm, { ...esmExpected, node: process.version });
  assert.deepEqual(cjs, { ...cjsExpected, node: process.version });
  assert.deepEqual(esmFloor, { ...esmExpected, node: `v${NODE_FLOOR}` });
  assert.deepEqual(cjsFloor, { ...cjsExpected, node: `v${NODE_FLOOR}` });
});

test('npx concord-etcd: --help, and a lock running a command against etcd, on current Node and the floor', async () => {
  const help = await run('npx', ['--no', '--', 'concord-etcd', '--help'], consumer);
  assert.match(help.stdout, /^concord-etcd \d+\.\d+\.\d+: coordination on etcd from the shell/);
  assert.match(help.stdout, /\n {2}lock +run CMD holding the lock NAME/);
  const env = { ETCD_ENDPOINTS: cluster!.endpoints.join(',') };
  const printToken = ['node', '-e', "console.log('token', process.env.CONCORD_FENCING_TOKEN)"];
  const bin = 'node_modules/concord-etcd/dist/bin/concord-etcd.js';
  const floor = ['exec', '--yes', `--package=node@${NODE_FLOOR}`, '--', 'node', bin];
  const [current, onFloor] = await Promise.all([
    run('npx', ['--no', '--', 'concord-etcd', 'lock', 'package-test', '--', ...printToken], consumer, env),
    run('npm', [...floor, 'lock', 'package-test', '--', ...printToken], consumer, env),
  ]);
  for (const { stdout } of [current, onFloor]) assert.match(stdout, /^token \d+\n$/);
});

function floorOf(range: string, pattern: RegExp): string {
  const floor = pattern.exec(range)?.[1];
  assert.ok(floor, `range ${range} does not match ${pattern}`);
  return floor;
}

async function npmPack(): Promise<void> {
  await run('npm', ['pack', '--pack-destination', work], ROOT);
  assert.ok(existsSync(tarball), `npm pack did not write ${TARBALL_NAME}`);
}

async function install(): Promise<void> {
  mkdirSync(consumer);
  cpSync(FIXTURE, consumer, { recursive: true });
  const manifest = {
    name: 'concord-etcd-consumer',
    private: true,
    type: 'module',
    dependencies: {
      [pkg.name]: `file:${tarball}`,
      rxjs: RXJS_TYPED,
      // The app's own cockatiel is the next major; concord-etcd and etcd3 keep theirs (3).
      cockatiel: '^4.0.0',
      cockatiel3: `npm:cockatiel@${pkg.dependencies.cockatiel}`,
      '@opentelemetry/api': pkg.devDependencies['@opentelemetry/api'],
      '@types/node': pkg.devDependencies['@types/node'],
    },
  };
  writeFileSync(join(consumer, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  await npm(['install']);
}

function npm(args: string[]): Promise<Output> {
  return run('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts'], consumer);
}

function tsc(project: string): Promise<Output> {
  return run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', project], consumer);
}

interface Output {
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; rejects with everything it printed when it exits non-zero. */
function run(
  file: string,
  args: string[],
  cwd: string,
  extraEnv: Record<string, string> = {},
): Promise<Output> {
  // Under `npm test` the environment carries this package's npm_* settings (its lifecycle,
  // prefix, package fields); the consumer's npm must see a project of its own.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) =>
        !name.startsWith('npm_') ||
        ['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig'].includes(name),
    ),
  );
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { cwd, env: { ...env, ...extraEnv }, maxBuffer: 64 * 1024 * 1024, timeout: 240_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${file} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
        else resolve({ stdout, stderr });
      },
    );
  });
}
