import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', otel: 'src/otel/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  tsconfig: 'tsconfig.build.json',
  // The otel entry uses the main one as any app does (by the package's own name), so both share
  // one copy of concord; the main entry never loads @opentelemetry/api (an optional peer).
  external: ['concord-etcd', '@opentelemetry/api'],
});
