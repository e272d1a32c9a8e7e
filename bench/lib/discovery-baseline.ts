import type { Etcd3, IKeyValue } from 'etcd3';

/** An instance as the hand-written etcd3 consumer keeps it. */
export interface PlainInstance {
  id: string;
  address: string;
  meta?: Record<string, unknown>;
}

/**
 * The plain etcd3 way to follow a service, as people write it: `getAll()` of the service
 * prefix, then a watcher from the revision after that read, each value parsed as the registry's
 * JSON (or taken as a plain address), kept in a Map by instance id.
 */
export class PlainConsumer {
  readonly instances = new Map<string, PlainInstance>();
  private watcher: { cancel(): Promise<void> } | undefined;

  constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    private readonly onChange: (consumer: PlainConsumer) => void,
  ) {}

  /** Loads the current instances and starts following changes; resolves once both are done. */
  async start(): Promise<void> {
    const res = await this.client.getAll().prefix(this.prefix).exec();
    for (const kv of res.kvs) this.put(kv);
    this.onChange(this);
    const watcher = await this.client
      .watch()
      .prefix(this.prefix)
      .startRevision((BigInt(res.header.revision) + 1n).toString())
      .create();
    watcher.on('put', (kv) => {
      this.put(kv);
      this.onChange(this);
    });
    watcher.on('delete', (kv) => {
      this.instances.delete(kv.key.toString().slice(this.prefix.length));
      this.onChange(this);
    });
    this.watcher = watcher;
  }

  async stop(): Promise<void> {
    await this.watcher?.cancel();
  }

  private put(kv: IKeyValue): void {
    const id = kv.key.toString().slice(this.prefix.length);
    const text = kv.value.toString();
    try {
      const parsed = JSON.parse(text) as { address: string; meta?: Record<string, unknown> };
      this.instances.set(id, { id, address: parsed.address, ...(parsed.meta ? { meta: parsed.meta } : {}) });
    } catch {
      this.instances.set(id, { id, address: text });
    }
  }
}
