import { fileURLToPath } from 'node:url';
import type * as ConcordModule from 'concord-etcd';
import { build } from 'tsup';

/** What `import … from 'concord-etcd'` gives a user. */
export type ConcordApi = typeof ConcordModule;

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT_DIR = 'bench/results/tmp/build';
let loaded: ConcordApi | undefined;

/**
 * Builds src/ the way the published package is built (tsup, ESM, dependencies external) and
 * imports it. The bench measures that build rather than src/ through tsx, because tsx compiles
 * with esbuild's keepNames, which defines a `name` property on every named arrow function and
 * so adds ~250 bytes to each of them: several per subscriber. etcd3 ships precompiled, so this
 * keeps both sides on equal terms. Dependencies resolve from node_modules, so concord and the
 * bench share one rxjs and one etcd3.
 */
export async function loadConcord(): Promise<ConcordApi> {
  if (loaded) return loaded;
  await build({
    entry: { concord: 'src/index.ts' },
    format: ['esm'],
    outDir: OUT_DIR,
    target: 'node20',
    tsconfig: 'tsconfig.build.json',
    dts: false,
    sourcemap: false,
    clean: true,
    silent: true,
    config: false,
  });
  loaded = (await import(`${ROOT}${OUT_DIR}/concord.js`)) as ConcordApi;
  return loaded;
}

/** The module {@link loadConcord} built; throws when it has not run yet. */
export function concordModule(): ConcordApi {
  if (!loaded) throw new Error('loadConcord() has not run');
  return loaded;
}

/** The bundle's path, for worker processes that must load the same build. */
export const CONCORD_BUNDLE = `${ROOT}${OUT_DIR}/concord.js`;
