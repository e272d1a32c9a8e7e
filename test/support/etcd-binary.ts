import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

/** How to get an etcd server, repeated in every "not found" error so the fix is one copy-paste away. */
export const INSTALL_HINT =
  'Install etcd 3.4 or newer with one of: `sudo apt-get install -y etcd-server etcd-client` (Debian/Ubuntu), ' +
  '`bash scripts/install-etcd.sh` (from the repository root; `bash scripts/install-etcd.sh 3.5` for 3.5), ' +
  'or set ETCD_BIN to the path of an etcd binary.';

/** How to get etcdctl; its "not found" errors carry it like {@link INSTALL_HINT}. */
export const ETCDCTL_INSTALL_HINT =
  'Install etcdctl with `sudo apt-get install -y etcd-client` (Debian/Ubuntu) or ' +
  '`bash scripts/install-etcd.sh` (from the repository root), put it beside the etcd server binary, ' +
  'or set ETCDCTL_BIN to the path of an etcdctl binary.';

/**
 * Returns the etcd server binary to run: `$ETCD_BIN` when set, else `etcd` on `$PATH`. Throws at
 * once, with {@link INSTALL_HINT} in the message, when that file does not exist or is not executable,
 * so a missing etcd fails the first test with instructions instead of a spawn ENOENT or a timeout.
 */
export function resolveEtcdBinary(env: NodeJS.ProcessEnv = process.env): string {
  const configured = fromVariable('etcd', 'ETCD_BIN', env, INSTALL_HINT);
  if (configured !== undefined) return configured;
  const found = onPath('etcd', env);
  if (found !== undefined) return found;
  throw new Error(`etcd binary not found: no \`etcd\` on PATH and ETCD_BIN is not set. ${INSTALL_HINT}`);
}

/**
 * Returns the etcdctl binary to run: `$ETCDCTL_BIN` when set, else the `etcdctl` in the folder of
 * the server {@link resolveEtcdBinary} picks (so `ETCD_BIN=.etcd-cache/3.5/usr/bin/etcd` drives
 * the 3.5 etcdctl unpacked beside it), else `etcdctl` on `$PATH`. Throws, with
 * {@link ETCDCTL_INSTALL_HINT} in the message, when none is an executable file: tests that drive
 * etcdctl fail with instructions, they are never skipped.
 */
export function resolveEtcdctlBinary(env: NodeJS.ProcessEnv = process.env): string {
  const configured = fromVariable('etcdctl', 'ETCDCTL_BIN', env, ETCDCTL_INSTALL_HINT);
  if (configured !== undefined) return configured;
  let server: string | undefined;
  try {
    server = resolveEtcdBinary(env);
  } catch {
    // No server is no reason to miss an etcdctl on PATH; the server's own resolution reports it.
  }
  const beside = server === undefined ? undefined : join(dirname(server), 'etcdctl');
  if (beside !== undefined && isExecutableFile(beside)) return beside;
  const found = onPath('etcdctl', env);
  if (found !== undefined) return found;
  throw new Error(
    `etcdctl binary not found: ETCDCTL_BIN is not set and there is no \`etcdctl\` beside ` +
      `${server ?? 'the etcd server'} or on PATH. ${ETCDCTL_INSTALL_HINT}`,
  );
}

// The binary named by environment variable `variable`, undefined when it is unset or empty; a
// set variable that names no executable file is an error, never a fallback to PATH.
function fromVariable(
  what: string,
  variable: string,
  env: NodeJS.ProcessEnv,
  hint: string,
): string | undefined {
  const configured = env[variable];
  if (configured === undefined || configured === '') return undefined;
  if (isExecutableFile(configured)) return configured;
  throw new Error(`${what} binary not found: ${variable}=${configured} is not an executable file. ${hint}`);
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
