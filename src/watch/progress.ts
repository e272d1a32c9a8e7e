import type { IWatchRequest } from 'etcd3';
import type { Log } from '../core/log.js';
import type { WatchResponse } from '../etcd/proto/watch.js';
import type { WatchServer } from '../etcd/watch-stream.js';
import type { StreamWatches } from './stream-watches.js';

/**
 * Whether an etcd server of `version` answers a progress request (`RequestProgress`) in order
 * with the events of its stream: 3.4.25+, 3.5.8+ and 3.6+ (etcd-io/etcd#15220, fixed by #15237,
 * backported as #15695 and #15697). Such an answer (watch id -1, for every watch of the stream)
 * then comes after every event up to its revision, and only when every watch of the stream has
 * caught up (else 3.5.8-3.5.12 delay it and 3.5.13+ / 3.4.31+ drop it). Older servers answer at
 * once with the current revision, ahead of events still queued: there it proves only that the
 * stream is alive. Unknown or unparsable versions count as old.
 */
export function answersProgressInOrder(version: string): boolean {
  const match = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!match) return false;
  const [major, minor, patch] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (major !== 3) return major > 3;
  if (minor !== 5 && minor !== 4) return minor > 5;
  return patch >= (minor === 5 ? 8 : 25);
}

/**
 * The progress side of one watch stream at a time. It learns, once per stream, whether the member
 * serving it answers progress requests in order: the member's own Status (asked on the stream's
 * endpoint) must name the member that sends the stream's responses (in a cluster of mixed
 * versions, or behind a proxy that spreads connections, only the stream's own member counts), and
 * its version must be one of {@link answersProgressInOrder}. Only then is `ordered` true and a
 * progress request sent every `intervalMs` (0: none), so quiet ranges keep moving without etcd's
 * `--experimental-watch-progress-notify-interval`. `stop()` leaves no timer behind.
 */
export class StreamProgress {
  #generation = 0;
  #timer: NodeJS.Timeout | undefined;
  #streamMember: string | undefined;
  #server: WatchServer | undefined;
  #ordered = false;

  constructor(
    private readonly write: (request: IWatchRequest) => boolean,
    private readonly intervalMs: number,
    private readonly log: Log,
  ) {}

  /** Whether progress answers (watch id -1) on the current stream may advance its watches. */
  get ordered(): boolean {
    return this.#ordered;
  }

  /** A new stream opened; `server` is what its endpoint's member reports about itself. */
  start(server: Promise<WatchServer | undefined>): void {
    this.stop();
    const generation = this.#generation;
    void server.then((facts) => {
      if (generation !== this.#generation || facts === undefined) return;
      this.#server = facts;
      this.#decide();
    });
  }

  /** A response of the current stream arrived from the member `memberId` (its header's). */
  heard(memberId: string): void {
    if (this.#streamMember !== undefined) return;
    this.#streamMember = memberId;
    this.#decide();
  }

  /**
   * Takes a response of the current stream that belongs to no watch. An answer to a progress
   * request (watch id -1, for every watch of the stream) from a member that sends it in order
   * moves every watch etcd has created on the stream to its revision; from older members (etcd
   * 3.4.23) it may overtake queued events, so it counts for liveness only (the caller has noted
   * that the stream answered).
   */
  answered(res: WatchResponse, watches: StreamWatches): void {
    if (!this.#ordered || String(res.watch_id) !== '-1' || res.events.length > 0 || res.created) return;
    const revision = BigInt(res.header.revision);
    for (const up of watches.answered()) up.onStreamProgress(revision);
  }

  /** The stream is gone: forget its member, stop asking. */
  stop(): void {
    this.#generation++;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#streamMember = undefined;
    this.#server = undefined;
    this.#ordered = false;
  }

  #decide(): void {
    const server = this.#server;
    if (server === undefined || this.#streamMember === undefined) return;
    const sameMember = server.memberId === this.#streamMember;
    this.#ordered = sameMember && answersProgressInOrder(server.version);
    this.log.debug('watch stream opened', {
      member: this.#streamMember,
      version: sameMember ? server.version : 'unknown (another member answered the status)',
      orderedProgress: this.#ordered,
    });
    if (this.#ordered && this.intervalMs > 0) {
      this.#timer = setInterval(() => this.write({ progress_request: {} }), this.intervalMs);
    }
  }
}
