import type { Etcd3 } from 'etcd3';
import type { ChannelTls } from '../h2/socket.js';
import { type Pool, type PoolHost, poolOf } from '../pool.js';
import { type CallDone, H2Channel } from './channel.js';
import { statusError } from './wire.js';

/** A grpc-js service client as etcd3's pool makes it, as far as this file replaces its calls. */
interface ServiceClient {
  constructor: { service: Record<string, MethodDefinition> };
  [method: string]: unknown;
}

interface MethodDefinition {
  path: string;
  originalName?: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize(request: unknown): Buffer;
  responseDeserialize(bytes: Buffer): unknown;
}

/** grpc-js's `Metadata`, as far as it is read here. */
interface Metadata {
  toHttp2Headers(): Record<string, string | string[]>;
  constructor: new () => unknown;
}

/** A pool host with the parts of etcd3's `Host` this file wraps. */
interface WrappableHost extends PoolHost {
  resetAllServices(): void;
}

/** The channel of each host that sends directly. */
const channels = new WeakMap<PoolHost, H2Channel>();

/** {@link sendDirect} for every host `etcd` has now (endpoint sync adds the ones it creates later). */
export function sendAllDirect(etcd: Etcd3): void {
  const pool = poolOf(etcd);
  for (const host of pool.hosts) sendDirect(pool, host);
}

/** The channel `host` sends its unary calls over (undefined unless it {@link sendDirect sends directly}). */
export function channelOf(host: PoolHost): H2Channel | undefined {
  return channels.get(host);
}

/**
 * Sends the unary calls of `host` (every call etcd3 or concord makes through it: gets, puts,
 * transactions, lease grants and revokes, member lists, status) over an {@link H2Channel} to the
 * same endpoint instead of grpc-js; the watch and lease keepalive streams go over the same channel
 * (see `openBidiStream`). Everything around a call stays etcd3's: host choice, auth metadata,
 * deadlines, retry policies, error casting. When etcd3 resets the host after a failure the channel
 * is reset too, and closing the host closes it. Hosts whose address is not `host:port` are left as
 * they are.
 */
export function sendDirect(pool: Pool, host: PoolHost): void {
  if (channels.has(host) || !/^(\[[0-9a-fA-F:.]+\]|[^/:[\]]+):\d+$/.test(host.host)) return;
  const wrappable = host as WrappableHost;
  const credentials = pool.options.credentials;
  const tls: ChannelTls | undefined = credentials && {
    ca: credentials.rootCertificate,
    cert: credentials.certChain,
    key: credentials.privateKey,
  };
  const channel = new H2Channel(host.host, tls);
  channels.set(host, channel);
  const getServiceClient = wrappable.getServiceClient.bind(wrappable);
  const resetAllServices = wrappable.resetAllServices.bind(wrappable);
  const routed = new WeakSet<object>();
  wrappable.getServiceClient = (name: string) => {
    const client = getServiceClient(name) as ServiceClient;
    // Every service's client (so a member is one connection; etcd3 fetches an auth token outside
    // its pool, over a grpc-js client of its own). Watch has no unary method: nothing to route.
    if (!routed.has(client)) {
      routed.add(client);
      route(client, channel);
    }
    return client;
  };
  wrappable.resetAllServices = () => {
    channel.reset();
    resetAllServices();
  };
  const close = wrappable.close.bind(wrappable);
  wrappable.close = () => {
    channel.close();
    close();
  };
}

/** Makes every unary method of `client` (and its `makeUnaryRequest`) call through `channel`. */
function route(client: ServiceClient, channel: H2Channel): void {
  const unary = (
    path: string,
    serialize: (request: unknown) => Buffer,
    deserialize: (bytes: Buffer) => unknown,
    request: unknown,
    ...rest: unknown[]
  ) => {
    const callback = rest.find((arg) => typeof arg === 'function') as (
      err: Error | null,
      res?: unknown,
    ) => void;
    const metadata = rest.find(isMetadata);
    const options = rest.find((arg) => arg !== metadata && typeof arg === 'object' && arg !== null) as
      | { deadline?: number | Date }
      | undefined;
    const done: CallDone = (err, message) => {
      if (err) return callback(statusError(err.code, err.details, metadata && new metadata.constructor()));
      let response: unknown;
      try {
        response = deserialize(message!);
      } catch (e) {
        return callback(statusError(13, `could not decode the response: ${String(e)}`, undefined));
      }
      callback(null, response);
    };
    const cancel = channel.call(
      path,
      serialize(request),
      metadata?.toHttp2Headers() ?? {},
      deadlineOf(options),
      done,
    );
    return { cancel };
  };
  client.makeUnaryRequest = unary;
  for (const [name, method] of Object.entries(client.constructor.service)) {
    if (method.requestStream || method.responseStream) continue;
    const call = (request: unknown, ...rest: unknown[]) =>
      unary(method.path, method.requestSerialize, method.responseDeserialize, request, ...rest);
    client[name] = call;
    if (method.originalName) client[method.originalName] = call;
  }
}

function isMetadata(value: unknown): value is Metadata {
  return typeof (value as Metadata | undefined)?.toHttp2Headers === 'function';
}

function deadlineOf(options: { deadline?: number | Date } | undefined): number | undefined {
  const deadline = options?.deadline;
  if (deadline === undefined) return undefined;
  const at = typeof deadline === 'number' ? deadline : deadline.getTime();
  return Number.isFinite(at) ? at : undefined;
}
