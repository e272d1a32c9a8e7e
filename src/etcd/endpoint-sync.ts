import type { Etcd3, IMember, IMemberListResponse } from 'etcd3';
import { errorText } from '../core/error-text.js';
import type { Log } from '../core/log.js';
import type { Closable, Runtime } from '../core/runtime.js';
import { channelOf, sendDirect } from './grpc/route.js';
import { callHost, type Pool, type PoolHost, poolOf } from './pool.js';

const MEMBER_LIST_DEADLINE_MS = 5_000;
const SYNC = Symbol('concord.endpoint-sync');

/** Starts the Concord's {@link EndpointSync} (one per runtime, closed with it). */
export function startEndpointSync(
  runtime: Runtime,
  options: { intervalMs: number; secure: boolean },
): EndpointSync {
  return runtime.service(SYNC, () => new EndpointSync(runtime.etcd, options, runtime.log));
}

/** `host:port` of an endpoint or client URL, lower case, without scheme or trailing slash. */
export function addressOf(url: string): string {
  return url
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/+$/, '')
    .toLowerCase();
}

/** What one member list says about the endpoints to use. */
export type EndpointPlan =
  | { endpoints: string[] }
  /**
   * `indirect`: the endpoint that answered is not an address its member advertises (a proxy, a
   * load balancer, a DNS alias, a NAT port): the advertised addresses may be unreachable from
   * here, and switching to them would bypass whatever stands in between, so nothing changes.
   * `empty`: no started voting member advertises a URL of the client's scheme.
   */
  | { skip: 'indirect' | 'empty' };

/**
 * The endpoints a member list asks for, as Go's `Client.Sync` picks them: the client URLs of
 * every started (named) member that is not a learner, only those of the client's scheme (https
 * when `secure`), each address once. `answeredAt` is the endpoint the list was read from.
 */
export function planEndpoints(list: IMemberListResponse, answeredAt: string, secure: boolean): EndpointPlan {
  const answering = list.members.find((m) => m.ID === list.header.member_id);
  const at = addressOf(answeredAt);
  if (!answering?.clientURLs.some((url) => addressOf(url) === at)) return { skip: 'indirect' };
  const seen = new Set<string>();
  const endpoints: string[] = [];
  for (const url of list.members.filter(voting).flatMap((m) => m.clientURLs)) {
    const scheme = /^([a-z]+):\/\//i.exec(url)?.[1]?.toLowerCase() ?? 'http';
    if (scheme !== (secure ? 'https' : 'http') || seen.has(addressOf(url))) continue;
    seen.add(addressOf(url));
    endpoints.push(url);
  }
  return endpoints.length > 0 ? { endpoints } : { skip: 'empty' };
}

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function voting(member: IMember): boolean {
  return member.name !== '' && !member.isLearner;
}

/**
 * Keeps etcd3's host list equal to the cluster's member list (what Go's client does with
 * `AutoSyncInterval`), so a client whose members were all replaced one by one, at new addresses,
 * still reaches the cluster. Every `intervalMs` (the first time `intervalMs` after start) it reads
 * the member list from one endpoint after another until one answers, and when the list asks for
 * other addresses it swaps etcd3's hosts: hosts still listed are kept as they are (with their
 * connections, and the watch and keepalive streams on them), new ones are added, and the hosts of
 * removed members are closed (their streams fail and reopen on a listed host, resuming where they
 * were). Nothing changes when the answering endpoint is not one its member advertises (see
 * {@link EndpointPlan}). Every change is logged (`etcd endpoints changed`) with the addresses
 * only. The timer never keeps the process alive; `close()` stops it.
 */
export class EndpointSync implements Closable {
  readonly #etcd: Etcd3;
  readonly #intervalMs: number;
  readonly #secure: boolean;
  readonly #log: Log;
  readonly #reportedIndirect = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(etcd: Etcd3, options: { intervalMs: number; secure: boolean }, log: Log) {
    this.#etcd = etcd;
    this.#intervalMs = options.intervalMs;
    this.#secure = options.secure;
    this.#log = log;
    this.#schedule();
  }

  /** The endpoints (addresses) etcd3 spreads its calls over now. */
  get endpoints(): string[] {
    return poolOf(this.#etcd).hosts.map((h) => addressOf(h.host));
  }

  /** Reads the member list once and applies it; resolves to whether the endpoints changed. Never rejects. */
  async sync(): Promise<boolean> {
    const pool = poolOf(this.#etcd);
    let metadata: unknown;
    try {
      metadata = await pool.authenticator.getMetadata();
    } catch (err) {
      this.#log.debug('endpoint sync: could not authenticate', { error: errorText(err) });
      return false;
    }
    for (const host of shuffled(pool.hosts)) {
      if (this.#closed) return false;
      try {
        const list = await callHost<IMemberListResponse>(
          host,
          'Cluster',
          'memberList',
          {},
          metadata,
          MEMBER_LIST_DEADLINE_MS,
        );
        return this.#closed ? false : this.#apply(pool, host, list);
      } catch (err) {
        this.#log.debug('endpoint sync: member list failed', { endpoint: host.host, error: errorText(err) });
      }
    }
    return false;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.sync().finally(() => this.#schedule()), this.#intervalMs);
    this.#timer.unref();
  }

  #apply(pool: Pool, answeredBy: PoolHost, list: IMemberListResponse): boolean {
    const plan = planEndpoints(list, answeredBy.host, this.#secure);
    if ('skip' in plan) {
      if (plan.skip === 'indirect' && !this.#reportedIndirect.has(answeredBy.host)) {
        this.#reportedIndirect.add(answeredBy.host);
        this.#log.info(
          'endpoint sync: the endpoint is not an address its member advertises; keeping the endpoints',
          {
            endpoint: answeredBy.host,
          },
        );
      }
      return false;
    }
    const from = this.endpoints;
    const to = plan.endpoints.map(addressOf);
    if (from.length === to.length && to.every((a) => from.includes(a))) return false;
    replaceHosts(pool, plan.endpoints);
    this.#log.info('etcd endpoints changed', { from, to });
    return true;
  }
}

/**
 * Makes `urls` etcd3's hosts: keeps the Host of every address still listed, creates the others
 * like etcd3 does (same credentials, gRPC options and per-host policy), closes the rest, and
 * points the authenticator (which logs in on the configured hosts) at the new list.
 */
function replaceHosts(pool: Pool, urls: readonly string[]): void {
  const template = pool.hosts[0] as unknown as {
    channelCredentials: unknown;
    channelOptions: unknown;
    constructor: new (host: string, credentials: unknown, options: unknown, policy: unknown) => PoolHost;
  };
  const kept = new Map(pool.hosts.map((h) => [addressOf(h.host), h]));
  const next = urls.map(
    (url) =>
      kept.get(addressOf(url)) ??
      new template.constructor(
        url,
        template.channelCredentials,
        template.channelOptions,
        pool.options.faultHandling?.host?.(url),
      ),
  );
  const removed = pool.hosts.filter((h) => !next.includes(h));
  // New hosts send unary calls the way the configured ones do.
  if (channelOf(pool.hosts[0]!)) for (const host of next) sendDirect(pool, host);
  pool.hosts = next;
  pool.options.hosts = [...urls];
  pool.authenticator.options.hosts = [...urls];
  for (const host of removed) host.close();
}
