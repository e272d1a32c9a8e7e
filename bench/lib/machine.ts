import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { resolveEtcdBinary } from '../../test/support/etcd-binary.js';

/** Where a run happened: enough to judge whether two runs are comparable. */
export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  etcd: string;
  etcd3: string;
  /** The commit measured, noting when src/ had uncommitted changes (the bench builds src/ from disk). */
  commit: string;
}

/** Describes this machine, the Node.js and etcd versions, and the commit measured. */
export function describeMachine(): Machine {
  const cpuList = cpus();
  return {
    cpu: cpuList[0]?.model.trim() ?? 'unknown',
    cores: cpuList.length,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    os: `${process.platform} ${release()}`,
    node: process.version,
    etcd: etcdVersion(),
    etcd3: etcd3Version(),
    commit: quiet(() => {
      const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
      // The bench builds src/ as it is on disk, which may differ from the commit.
      const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim();
      return dirty ? `${head} + uncommitted changes in src/` : head;
    }),
  };
}

/** One line for reports: 'AMD EPYC, 2 cores, 24 GiB, linux 6.1; Node v20.20.2; etcd 3.4.23; etcd3 1.1.2'. */
export function machineLine(m: Machine): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, ${m.os}; Node ${m.node}; etcd ${m.etcd} (single member, data on tmpfs); etcd3 ${m.etcd3}; commit ${m.commit}`;
}

function etcdVersion(): string {
  return quiet(() => {
    const out = execFileSync(resolveEtcdBinary(), ['--version'], { encoding: 'utf8' });
    return /etcd Version:\s*(\S+)/.exec(out)?.[1] ?? 'unknown';
  });
}

function etcd3Version(): string {
  return quiet(() => {
    const path = new URL('../../node_modules/etcd3/package.json', import.meta.url);
    return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
  });
}

function quiet(read: () => string): string {
  try {
    return read();
  } catch {
    return 'unknown';
  }
}
