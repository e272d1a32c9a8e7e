// The public boundary as users compile against it: runs the real build (`npm run build`, into a
// temporary directory so a concurrent build of dist/ is never disturbed) once, then reads the
// bundled declarations with the TypeScript parser. They must export exactly what src/index.ts
// exports and name nothing internal: no class, interface or type that src/ keeps to itself may
// be declared or referenced there (a public signature taking a `Runtime` would drag it in).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SRC = join(ROOT, 'src');

/** Internal types named in issue 12; checked by name even if a refactor stops exporting them. */
const KNOWN_INTERNAL = [
  'Runtime',
  'Keyspace',
  'Log',
  'ConnectionMonitor',
  'HubSettings',
  'Closable',
  'WatchHub',
  'Upstream',
  'ViewCache',
  'KeepAlive',
  'Contender',
];

const parse = (file: string, text: string) => ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);

/** The names a module exports through `export { ... }` / `export type { ... }` lists. */
function listedExports(source: ts.SourceFile): string[] {
  const names: string[] = [];
  for (const statement of source.statements) {
    if (!ts.isExportDeclaration(statement) || !statement.exportClause) continue;
    if (!ts.isNamedExports(statement.exportClause)) continue;
    for (const element of statement.exportClause.elements) names.push(element.name.text);
  }
  return names.sort();
}

function hasExportModifier(node: ts.Node): boolean {
  return (
    ts.canHaveModifiers(node) &&
    (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword)
  );
}

/** Names of the classes, interfaces, type aliases and enums declared at the top of `source`. */
function declaredTypes(source: ts.SourceFile, exportedOnly: boolean): string[] {
  const names: string[] = [];
  for (const statement of source.statements) {
    const isType =
      ts.isClassDeclaration(statement) ||
      ts.isInterfaceDeclaration(statement) ||
      ts.isTypeAliasDeclaration(statement) ||
      ts.isEnumDeclaration(statement);
    if (isType && statement.name && (!exportedOnly || hasExportModifier(statement))) {
      names.push(statement.name.text);
    }
  }
  return names;
}

/** Every identifier in `source` outside comments: declarations, type references, members. */
function identifiers(source: ts.SourceFile): Set<string> {
  const found = new Set<string>();
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node) || ts.isPrivateIdentifier(node)) found.add(node.text);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
    .map((e) => join(e.parentPath, e.name));
}

describe('published declarations (dist/index.d.ts)', () => {
  let outDir: string;
  const bundles: { name: string; source: ts.SourceFile }[] = [];
  let publicNames: string[];
  let internalTypes: Map<string, string>;

  before(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'concord-dts-'));
    try {
      await promisify(execFile)('npm', ['run', 'build', '--', '--out-dir', outDir], {
        cwd: ROOT,
        maxBuffer: 16 * 1024 * 1024,
      });
    } catch (err) {
      const { stdout, stderr } = err as { stdout?: string; stderr?: string };
      throw new Error(`npm run build failed:\n${stdout ?? ''}\n${stderr ?? ''}`, { cause: err });
    }
    for (const name of ['index.d.ts', 'index.d.cts']) {
      bundles.push({ name, source: parse(name, await readFile(join(outDir, name), 'utf8')) });
    }
    const index = join(SRC, 'index.ts');
    publicNames = listedExports(parse(index, await readFile(index, 'utf8')));
    internalTypes = new Map(KNOWN_INTERNAL.map((name) => [name, 'named in issue 12']));
    for (const file of await sourceFiles(SRC)) {
      const source = parse(file, await readFile(file, 'utf8'));
      for (const name of declaredTypes(source, true)) {
        if (!publicNames.includes(name)) internalTypes.set(name, relative(ROOT, file));
      }
    }
  });

  after(async () => {
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  test('src/index.ts exports something, and src/ has internal types to keep out', () => {
    assert.ok(publicNames.includes('Concord'), 'src/index.ts exports Concord');
    assert.ok(internalTypes.size > KNOWN_INTERNAL.length, 'internal types found under src/');
  });

  test('they export exactly the names src/index.ts exports', () => {
    for (const { name, source } of bundles) {
      assert.deepEqual(listedExports(source), publicNames, `${name} exports`);
    }
  });

  test('they name no internal type', () => {
    for (const { name, source } of bundles) {
      const leaked = [...identifiers(source)]
        .filter((id) => internalTypes.has(id))
        .map((id) => `${id} (${internalTypes.get(id)})`);
      assert.deepEqual(leaked, [], `${name} names internal types`);
    }
  });

  test('classes users get from concord, not from `new`, declare a private constructor', () => {
    // A constructor marked @internal is stripped from the declarations, leaving the default
    // public one: `new Mutex()` would type-check and crash. Only Concord and the errors are built by users.
    for (const { name, source } of bundles) {
      const constructible: string[] = [];
      for (const statement of source.statements) {
        if (!ts.isClassDeclaration(statement) || !statement.name) continue;
        const className = statement.name.text;
        if (className === 'Concord' || className.endsWith('Error')) continue;
        const ctor = statement.members.find(ts.isConstructorDeclaration);
        const isPrivate =
          (ctor && ts.getModifiers(ctor)?.some((m) => m.kind === ts.SyntaxKind.PrivateKeyword)) ?? false;
        if (!isPrivate) constructible.push(className);
      }
      assert.deepEqual(constructible, [], `${name}: classes users could construct`);
    }
  });

  test('concord-etcd/otel declares only its own API and takes concord types from the main entry', async () => {
    for (const name of ['otel.d.ts', 'otel.d.cts']) {
      const source = parse(name, await readFile(join(outDir, name), 'utf8'));
      assert.deepEqual(listedExports(source), ['InstrumentOptions', 'Instrumentation', 'instrument'], name);
      // A second declaration of Concord here would be a different class to TypeScript (#private).
      assert.deepEqual(declaredTypes(source, false).sort(), ['InstrumentOptions', 'Instrumentation'], name);
      const imported = source.statements
        .filter(ts.isImportDeclaration)
        .map((s) => (s.moduleSpecifier as ts.StringLiteral).text)
        .sort();
      assert.deepEqual(imported, ['@opentelemetry/api', 'concord-etcd'], name);
    }
  });

  test('every type they declare is exported (nothing is dragged in by a public signature)', () => {
    for (const { name, source } of bundles) {
      const exported = new Set(listedExports(source));
      const stowaways = declaredTypes(source, false).filter((t) => !exported.has(t));
      assert.deepEqual(stowaways, [], `${name} declares types it does not export`);
    }
  });
});
