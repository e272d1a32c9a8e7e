import { defineConfig } from 'tsup';

export default defineConfig([
  {
    entry: { index: 'src/index.ts', otel: 'src/otel/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    // dist/bin is the other build's (the two run side by side).
    clean: ['!bin/**'],
    target: 'node20',
    tsconfig: 'tsconfig.build.json',
    // The otel entry uses the main one as any app does (by the package's own name), so both share
    // one copy of concord; the main entry never loads @opentelemetry/api (an optional peer).
    external: ['concord-etcd', '@opentelemetry/api'],
  },
  {
    // The `concord-etcd` bin: ESM only, no declarations, a bundle of its own in dist/bin (the
    // library entry never imports it). src/cli/main.ts starts with the shebang, which esbuild
    // keeps on line 1; the commands are a chunk main.ts loads only when it runs one.
    entry: { 'concord-etcd': 'src/cli/main.ts' },
    outDir: 'dist/bin',
    format: ['esm'],
    dts: false,
    sourcemap: true,
    clean: true,
    target: 'node20',
    tsconfig: 'tsconfig.build.json',
  },
]);
