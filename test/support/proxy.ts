import { createConnection, createServer, type Server, type Socket } from 'node:net';

type Mode = 'forward' | 'blackhole' | 'hold';

// One accepted client connection and its upstream side (absent for connections accepted while
// blackholed: those never reach etcd).
interface Pair {
  client: Socket;
  upstream: Socket | undefined;
  /** Set by freeze(): this connection forwards nothing any more, in either direction. */
  frozen?: boolean;
  /** What a connection accepted in hold mode sent, kept until restore() forwards it. */
  held?: Buffer[];
  /** Settles once both sockets have emitted 'close' and the pair left the set. */
  gone: Promise<unknown>;
}

/**
 * Starts a TCP proxy on a random 127.0.0.1 port forwarding to `target` ('host:port'). Give its
 * `endpoint` to a client, then cut, blackhole or restore the path to simulate network faults.
 */
export async function startProxy(target: string): Promise<TcpProxy> {
  const proxy = new TcpProxy(target);
  await proxy.listen();
  return proxy;
}

/**
 * A loopback TCP proxy with fault switches. It never parses traffic, so it works for gRPC, HTTP
 * and TLS alike; every fault is applied to whole connections, both directions at once.
 */
export class TcpProxy {
  #target: [host: string, port: number];
  #mode: Mode = 'forward';
  #endpoint = '';
  readonly #pairs = new Set<Pair>();
  readonly #server: Server;
  #closed: Promise<void> | undefined;

  constructor(target: string) {
    this.#target = splitHostPort(target);
    this.#server = createServer({ noDelay: true }, (socket) => this.#accept(socket));
  }

  /** '127.0.0.1:port' to give to clients; set once the proxy listens. */
  get endpoint(): string {
    return this.#endpoint;
  }

  /** Open client connections (forwarded or blackholed). */
  get connections(): number {
    return this.#pairs.size;
  }

  /** Binds the listening port (startProxy does this). */
  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => {
        const address = this.#server.address();
        if (typeof address !== 'object' || address === null) {
          reject(new Error('proxy listen gave no address'));
          return;
        }
        this.#endpoint = `127.0.0.1:${address.port}`;
        resolve();
      });
    });
  }

  /**
   * Destroys every open connection on both sides now (the peers see a reset / EOF, as when a
   * network path dies). New connections are accepted and handled according to the current mode.
   */
  cut(): void {
    for (const pair of this.#pairs) destroy(pair);
  }

  /**
   * From now on nothing is forwarded in either direction: bytes on existing connections are
   * silently dropped and new connections are accepted but never connected upstream. Connections
   * stay open, so clients only notice through their own deadlines or keepalives.
   */
  blackhole(): void {
    this.#mode = 'blackhole';
  }

  /**
   * The connections open now go silent in both directions and stay open (a path that died
   * without a reset, e.g. a dropped NAT entry), while new connections are forwarded as usual.
   * Only the client's own deadlines or keepalives notice; cut() or close() ends them.
   */
  freeze(): void {
    for (const pair of this.#pairs) pair.frozen = true;
  }

  /**
   * Like a member that is still starting: new connections are accepted but nothing is answered,
   * and what they send is kept, to be forwarded by restore() (as the member serves the
   * connections its listener accepted meanwhile). `heldBytes()` shows what they sent.
   */
  hold(): void {
    this.#mode = 'hold';
  }

  /** What the connections accepted in hold mode have sent so far, one buffer per connection. */
  heldBytes(): Buffer[] {
    return [...this.#pairs].filter((p) => p.held).map((p) => Buffer.concat(p.held!));
  }

  /**
   * Back to forwarding. Connections that lived through a blackhole have lost bytes, so they are
   * destroyed; the client reconnects on a clean stream. Connections accepted in hold mode are
   * connected upstream now, what they sent first.
   */
  restore(): void {
    if (this.#mode === 'blackhole') this.cut();
    this.#mode = 'forward';
    for (const pair of this.#pairs) {
      if (!pair.held || pair.client.destroyed) continue;
      const sent = Buffer.concat(pair.held);
      delete pair.held;
      pair.client.removeAllListeners('data');
      this.#connect(pair, sent);
    }
  }

  /** Sends new connections to `target` ('host:port'); existing ones keep their upstream. */
  retarget(target: string): void {
    this.#target = splitHostPort(target);
  }

  /** Stops listening and destroys every connection; idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      const pairs = [...this.#pairs];
      const serverClosed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      this.cut();
      // Resolve only once every socket is gone, so `connections` is 0 and no port is left half-open.
      await Promise.all(pairs.map((p) => p.gone));
      await serverClosed;
    })();
    return this.#closed;
  }

  #accept(client: Socket): void {
    const clientGone = closed(client).then(() => this.#pairs.delete(pair));
    const pair: Pair = { client, upstream: undefined, gone: clientGone };
    this.#pairs.add(pair);
    client.on('error', () => destroy(pair));
    client.on('close', () => destroy(pair));
    if (this.#mode === 'blackhole') {
      // Read and drop: keeps the client's writes from piling up in kernel buffers unseen.
      client.on('data', () => {});
      return;
    }
    if (this.#mode === 'hold') {
      const held: Buffer[] = [];
      pair.held = held;
      client.on('data', (chunk: Buffer) => held.push(chunk));
      return;
    }
    this.#connect(pair, undefined);
  }

  // Connects `pair` upstream (sending `first` before anything else) and relays both ways.
  #connect(pair: Pair, first: Buffer | undefined): void {
    const { client } = pair;
    const clientGone = pair.gone;
    const [host, port] = this.#target;
    const upstream = createConnection({ host, port, noDelay: true });
    pair.upstream = upstream;
    pair.gone = Promise.all([clientGone, closed(upstream)]);
    upstream.on('error', () => destroy(pair));
    upstream.on('close', () => destroy(pair));
    if (first?.length) upstream.write(first);
    this.#relay(pair, client, upstream);
    this.#relay(pair, upstream, client);
  }

  // Forwards `from` to `to` unless blackholed or frozen, with backpressure: a slow receiver pauses the sender.
  #relay(pair: Pair, from: Socket, to: Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (this.#mode === 'blackhole' || pair.frozen || to.destroyed) return;
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
  }
}

// Settles on 'close' whatever happened before. (events.once would reject on an earlier 'error',
// e.g. EPIPE after etcd died or ECONNREFUSED from a dead target, and nobody awaits that rejection.)
function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

function destroy(pair: Pair): void {
  pair.client.destroy();
  pair.upstream?.destroy();
}

function splitHostPort(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  const port = Number(address.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port)) throw new Error(`expected host:port, got ${address}`);
  return [address.slice(0, colon).replace(/^\[|\]$/g, ''), port];
}
