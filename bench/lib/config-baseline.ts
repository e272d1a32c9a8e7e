import type { Etcd3 } from 'etcd3';

type Tree = { [key: string]: unknown };

/**
 * The plain etcd3 way to follow a config prefix, as people write it: `getAll()` of the prefix
 * into a Map, a watcher from the revision after the read, and on every change the nested object
 * rebuilt from the Map (path segments split on '/', values parsed as JSON, else kept as strings)
 * and handed to `onValue` with the revision it reflects (the read's, then each change's).
 */
export class PlainConfig {
  private readonly values = new Map<string, string>();
  private watcher: { cancel(): Promise<void> } | undefined;

  constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    private readonly onValue: (value: Tree, revision: bigint) => void,
  ) {}

  async start(): Promise<void> {
    const res = await this.client.getAll().prefix(this.prefix).exec();
    for (const kv of res.kvs)
      this.values.set(kv.key.toString().slice(this.prefix.length), kv.value.toString());
    this.onValue(this.build(), BigInt(res.header.revision));
    const watcher = await this.client
      .watch()
      .prefix(this.prefix)
      .startRevision((BigInt(res.header.revision) + 1n).toString())
      .create();
    watcher.on('data', (res) => {
      let revision = 0n;
      for (const event of res.events) {
        revision = BigInt(event.kv.mod_revision);
        const path = event.kv.key.toString().slice(this.prefix.length);
        if (event.type === 'Delete') this.values.delete(path);
        else this.values.set(path, event.kv.value.toString());
      }
      if (revision > 0n) this.onValue(this.build(), revision);
    });
    this.watcher = watcher;
  }

  async stop(): Promise<void> {
    await this.watcher?.cancel();
  }

  private build(): Tree {
    const root: Tree = {};
    for (const [path, raw] of this.values) {
      const segments = path.split('/');
      let node = root;
      for (const segment of segments.slice(0, -1)) {
        const child = node[segment];
        if (typeof child === 'object' && child !== null) {
          node = child as Tree;
        } else {
          const fresh: Tree = {};
          node[segment] = fresh;
          node = fresh;
        }
      }
      let value: unknown;
      try {
        value = JSON.parse(raw);
      } catch {
        value = raw;
      }
      node[segments.at(-1)!] = value;
    }
    return root;
  }
}
