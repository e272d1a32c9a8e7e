import type { IWatchCreateRequest } from 'etcd3';
import type { WatchResponse } from '../etcd/proto/watch.js';
import type { Upstream } from './upstream.js';

/**
 * The server-side watches registered on the current watch stream: the id each upstream got on
 * it and the creates etcd has not answered yet. An upstream has a `watchId` exactly while it is
 * registered here; everything is forgotten when the stream is let go.
 */
export class StreamWatches {
  private readonly byId = new Map<string, Upstream>();
  /** Ids of create requests not answered yet, oldest first: etcd answers creates in order. */
  private readonly awaitingCreated: string[] = [];
  private nextWatchId = 1n;

  /** How many watches are registered. */
  get size(): number {
    return this.byId.size;
  }

  /** Registers `up` under a new id and returns the create request that resumes it. */
  add(up: Upstream): IWatchCreateRequest {
    const id = (this.nextWatchId++).toString();
    up.watchId = id;
    this.byId.set(id, up);
    this.awaitingCreated.push(id);
    return up.createRequest(id);
  }

  /** The upstream `res` is about, if it is still registered. */
  route(res: WatchResponse): Upstream | undefined {
    let id = String(res.watch_id);
    if (res.created) {
      // etcd 3.4 answers a create it refuses (permission denied) with watch id -1, created and
      // canceled: that answer belongs to the oldest create still waiting for its answer.
      if (id === '-1') id = this.awaitingCreated[0] ?? id;
      const at = this.awaitingCreated.indexOf(id);
      if (at >= 0) this.awaitingCreated.splice(at, 1);
    }
    return this.byId.get(id);
  }

  /** The registered upstreams whose create etcd has answered on this stream. */
  *answered(): IterableIterator<Upstream> {
    for (const [id, up] of this.byId) if (!this.awaitingCreated.includes(id)) yield up;
  }

  /** Unregisters `up`; returns the id it had, if any. */
  remove(up: Upstream): string | undefined {
    const id = up.watchId;
    up.watchId = undefined;
    if (id !== undefined) this.byId.delete(id);
    return id;
  }

  /** Unregisters everything: the stream they lived on is gone. */
  clear(): void {
    for (const up of this.byId.values()) up.watchId = undefined;
    this.byId.clear();
    this.awaitingCreated.length = 0;
  }
}
