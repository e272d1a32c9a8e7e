import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** How to get an etcd server, repeated in every "not found" error so the fix is one copy-paste away. */
export const INSTALL_HINT =
  'Install etcd 3.4 or newer with one of: `sudo apt-get install -y etcd-server` (Debian/Ubuntu), ' +
  '`bash scripts/install-etcd.sh` (from the repository root), or set ETCD_BIN to the path of an etcd binary.';

/**
 * Returns the etcd server binary to run: `$ETCD_BIN` when set, else `etcd` on `$PATH`. Throws at
 * once, with {@link INSTALL_HINT} in the message, when that file does not exist or is not executable,
 * so a missing etcd fails the first test with instructions instead of a spawn ENOENT or a timeout.
 */
export function resolveEtcdBinary(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.ETCD_BIN;
  if (configured !== undefined && configured !== '') {
    if (isExecutableFile(configured)) return configured;
    throw new Error(
      `etcd binary not found: ETCD_BIN=${configured} is not an executable file. ${INSTALL_HINT}`,
    );
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'etcd');
    if (isExecutableFile(candidate)) return candidate;
  }
  throw new Error(`etcd binary not found: no \`etcd\` on PATH and ETCD_BIN is not set. ${INSTALL_HINT}`);
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
