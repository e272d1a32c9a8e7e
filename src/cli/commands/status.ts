import { exhaustMap, finalize, from, timer } from 'rxjs';
import type { Concord } from '../../concord.js';
import { errorText } from '../../core/error-text.js';
import type { WatchStats } from '../../watch/types.js';
import type { CommandSpec, Parsed } from '../args.js';
import {
  CONNECTION_OPTIONS,
  closeWithin,
  concordOptions,
  connectWith,
  endpointsOf,
  newConcord,
} from '../connect.js';
import { runView } from '../live.js';
import { byteSize, VIEW_OPTIONS } from '../output.js';

export const spec: CommandSpec = {
  name: 'status',
  usage: 'status [--interval MS] [--json] [--once]',
  summary: 'endpoints, members, raft leader, versions, db size, lease and watch counts',
  description: `Asks every endpoint for its status (member, server version, db size and in use, raft
term and index, leader), lists the cluster's members and its raft leader, counts the
leases granted in the cluster, and shows this client's own watch streams, server-side
watches and subscribers. Refreshed every --interval.

JSON lines, one per refresh:
  {"type":"status","raftLeader":{"id":"8e9e05c52164694d","name":"m0"},
   "endpoints":[{"endpoint":"127.0.0.1:2379","ok":true,"memberId":"8e9e05c52164694d",
     "version":"3.5.17","dbSize":24576,"dbSizeInUse":16384,"isLeader":true,
     "isLearner":false,"raftTerm":"2","raftIndex":"9","raftAppliedIndex":"9","errors":[]}],
   "members":[{"id":"8e9e05c52164694d","name":"m0","peerURLs":[...],"clientURLs":[...],
     "isLearner":false,"isLeader":true}],
   "leases":3,"client":{"streams":0,"upstreamWatches":0,"subscribers":0}}
An endpoint that does not answer has "ok":false and "error"; "members" and "leases" are
null when the cluster did not answer those.`,
  options: {
    interval: { type: 'string', value: 'MS', help: 'time between refreshes (default 2000)' },
    ...VIEW_OPTIONS,
    ...CONNECTION_OPTIONS,
  },
  positionals: { min: 0, max: 0, names: '' },
};

type EndpointStatus =
  | {
      endpoint: string;
      ok: true;
      memberId: string;
      version: string;
      dbSize: number;
      dbSizeInUse: number;
      isLeader: boolean;
      isLearner: boolean;
      raftTerm: string;
      raftIndex: string;
      raftAppliedIndex: string;
      errors: string[];
    }
  | { endpoint: string; ok: false; error: string };

interface Member {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
  isLeader: boolean;
}

interface ClusterStatus {
  raftLeader: { id: string; name: string } | null;
  endpoints: EndpointStatus[];
  members: Member[] | null;
  leases: number | null;
  client: WatchStats;
}

const hex = (id: string): string => BigInt(id).toString(16).padStart(16, '0');

export async function run({ flags }: Parsed): Promise<number> {
  const interval = flags.integer('interval', 2_000, 100);
  const options = await concordOptions(flags);
  const concord = await connectWith(options);
  // One client per endpoint: the cluster client picks any endpoint per call.
  const clients = await Promise.all(
    endpointsOf(flags).map(async (endpoint) => ({
      endpoint,
      concord: await newConcord({ ...options, endpoints: [endpoint] }),
    })),
  );
  const states = timer(0, interval).pipe(
    exhaustMap(() => from(readStatus(concord, clients))),
    finalize(() => void Promise.all(clients.map((c) => closeWithin(c.concord, 1_000)))),
  );
  return runView(concord, flags, {
    title: 'etcd status',
    mode: 'redraw',
    states,
    json: (state) => [{ type: 'status', ...state }],
    screen: statusLines,
  });
}

async function readStatus(
  concord: Concord,
  clients: { endpoint: string; concord: Concord }[],
): Promise<ClusterStatus> {
  const [endpoints, members, leases] = await Promise.all([
    Promise.all(clients.map(({ endpoint, concord: client }) => endpointStatus(endpoint, client))),
    concord.etcd.cluster.memberList({}).then(
      (res) => res.members,
      () => null,
    ),
    concord.etcd.leaseClient.leaseLeases().then(
      (res) => res.leases.length,
      () => null,
    ),
  ]);
  const leaderId = endpoints.flatMap((e) => (e.ok && e.isLeader ? [e.memberId] : []))[0];
  const listed =
    members?.map((m) => ({
      id: hex(m.ID),
      name: m.name,
      peerURLs: m.peerURLs,
      clientURLs: m.clientURLs,
      isLearner: m.isLearner,
      isLeader: hex(m.ID) === leaderId,
    })) ?? null;
  const leaderName = listed?.find((m) => m.isLeader)?.name ?? '';
  return {
    raftLeader: leaderId ? { id: leaderId, name: leaderName } : null,
    endpoints,
    members: listed,
    leases,
    client: concord.watchStats(),
  };
}

async function endpointStatus(endpoint: string, client: Concord): Promise<EndpointStatus> {
  try {
    const s = await client.etcd.maintenance.status();
    return {
      endpoint,
      ok: true,
      memberId: hex(s.header.member_id),
      version: s.version,
      dbSize: Number(s.dbSize),
      dbSizeInUse: Number(s.dbSizeInUse),
      isLeader: s.leader === s.header.member_id,
      isLearner: s.isLearner,
      raftTerm: s.raftTerm,
      raftIndex: s.raftIndex,
      raftAppliedIndex: s.raftAppliedIndex,
      errors: s.errors,
    };
  } catch (err) {
    return { endpoint, ok: false, error: errorText(err) };
  }
}

const WIDTHS = [24, 17, 9, 22, 14];

/** One table row: each cell padded to its column's width, the last one as it is. */
function row(cells: string[]): string {
  return cells
    .map((cell, i) => cell.padEnd(WIDTHS[i] ?? 0))
    .join(' ')
    .trimEnd();
}

function statusLines(state: ClusterStatus): string[] {
  const leader = state.raftLeader ? `${state.raftLeader.name || '?'} (${state.raftLeader.id})` : 'none seen';
  const lines = [
    `raft leader: ${leader}`,
    '',
    row(['ENDPOINT', 'MEMBER', 'VERSION', 'DB SIZE (IN USE)', 'TERM/INDEX', 'ROLE']),
  ];
  for (const e of state.endpoints) {
    if (!e.ok) {
      lines.push(`${e.endpoint.padEnd(24)} DOWN: ${e.error}`);
      continue;
    }
    const db = `${byteSize(e.dbSize)} (${byteSize(e.dbSizeInUse)})`;
    const role = e.isLeader ? 'leader' : e.isLearner ? 'learner' : '';
    lines.push(
      row([e.endpoint, e.memberId, e.version, db, `${e.raftTerm}/${e.raftIndex}`, role]) +
        (e.errors.length > 0 ? `  errors: ${e.errors.join('; ')}` : ''),
    );
  }
  lines.push('', `members (${state.members?.length ?? '?'}):`);
  for (const m of state.members ?? []) {
    lines.push(
      `  ${m.name || '(unstarted)'}  ${m.id}  peer ${m.peerURLs.join(',')}  client ${m.clientURLs.join(',')}${m.isLearner ? '  learner' : ''}${m.isLeader ? '  leader' : ''}`,
    );
  }
  const { streams, upstreamWatches, subscribers } = state.client;
  lines.push(
    '',
    `leases in the cluster: ${state.leases ?? '?'}`,
    `this client: ${streams} watch stream(s), ${upstreamWatches} server-side watch(es), ${subscribers} subscriber(s)`,
  );
  return lines;
}
