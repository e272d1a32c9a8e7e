import { defer, EMPTY, fromEvent, map, mergeMap, type Observable, Subject, takeUntil } from 'rxjs';
import type { Runtime } from '../core/runtime.js';
import { checkSegment } from '../core/validate.js';
import { type Catalog, catalog$ } from './catalog.js';
import { pickerConfig } from './pick-options.js';
import { createPicker, type Picker } from './picker.js';
import { servicePrefix } from './record.js';
import type {
  DiscoveryError,
  PickerOptions,
  ServiceChange,
  ServiceInstance,
  ServicePrefixOptions,
} from './types.js';

/** Set by Discovery's static block: the one way to construct a Discovery. */
let construct: (runtime: Runtime, options: ServicePrefixOptions | undefined) => Discovery;

/**
 * Finds the instances registered under a prefix and follows them live. Every stream is built on
 * the watch hub's shared, parsed catalog of the prefix: however many subscribers (and Discovery
 * objects) one Concord has, it reads each service once, keeps one server-side watch per service
 * (plus one for the whole prefix when `changes$()` follows every service) and one sorted list of
 * parsed instances (no raw values), survives reconnects and compaction, and parses each write
 * once. A change costs one binary search per key it changed and one copy of the list (plus one
 * per `instances$` subscriber, which gets an array of its own). Streams are cold: nothing is read
 * until subscribe, and the last unsubscribe releases the watch.
 *
 * Values are the registry's JSON `{ address, meta?, registeredAt, status? }`, etcd Go
 * `endpoints` JSON (`{ Addr, Metadata }`) or a plain address string, so instances registered by
 * other clients are found (those are `serving`). Anything else is skipped and reported on
 * {@link errors$}.
 */
export class Discovery {
  /** The prefix instances live under. */
  readonly prefix: string;
  /**
   * Entries the streams of this Discovery skipped (bad key shape or a value that is not an
   * instance), each write reported once, when a stream of this Discovery following its service
   * first sees it. Hot: subscribers see what is found after they subscribe. Never errors; completes
   * when the Concord closes.
   */
  readonly errors$: Observable<DiscoveryError>;
  readonly #runtime: Runtime;
  readonly #errors = new Subject<DiscoveryError>();
  readonly #catalogs = new Map<string, Observable<Catalog>>();
  /** The revision last reported per skipped key, so two streams seeing one write report it once. */
  readonly #reported = new Map<string, bigint>();

  static {
    construct = (runtime, options) => new Discovery(runtime, options);
  }

  private constructor(runtime: Runtime, options: ServicePrefixOptions | undefined) {
    this.#runtime = runtime;
    this.prefix = servicePrefix(options);
    runtime.assertOpen('discovery');
    // Completes with the Concord. Listening for that only while someone subscribes: a listener per
    // Discovery on the Concord's long-lived signal would keep every Discovery ever made alive.
    const closed = runtime.signal;
    this.errors$ = defer(() =>
      closed.aborted ? EMPTY : this.#errors.pipe(takeUntil(fromEvent(closed, 'abort'))),
    );
  }

  /**
   * The live instances of `service` (of every service under the prefix when omitted), sorted by
   * service, then id, draining ones included (`status`): the full current list on subscribe (at
   * once when it is already followed), then the full list again after every change to it (an
   * instance up, down or rewritten, e.g. drained). Completes when the Concord closes.
   */
  instances$(service?: string): Observable<ServiceInstance[]> {
    if (service !== undefined) checkSegment('service', service);
    // A copy per subscriber: the shared list must not change under the others.
    return this.#catalog(service).pipe(map((catalog) => catalog.list.slice()));
  }

  /**
   * Changes to the instances of `service`, or of every service under the prefix when `service`
   * is omitted: first an `up` for each instance present on subscribe, then `up`, `down` (with the
   * instance as last seen) and `update` (with the new instance) as they happen. Within one etcd
   * revision, `down`s come first. Completes when the Concord closes.
   */
  changes$(service?: string): Observable<ServiceChange> {
    if (service !== undefined) checkSegment('service', service);
    const catalogs = this.#catalog(service);
    return defer(() => {
      // The first catalog (the current one, for a late subscriber) is reported whole; each one
      // after it carries its changes since the one before.
      let started = false;
      return catalogs.pipe(
        mergeMap((catalog): readonly ServiceChange[] => {
          if (started) return catalog.changes;
          started = true;
          return catalog.list.map((instance) => ({ type: 'up', instance }));
        }),
      );
    });
  }

  /**
   * A {@link Picker} over the live instances of `service`: `next()` returns one per call,
   * `'round-robin'` (default) or `'random'`, never a draining instance, skipping instances
   * ejected after errors (`picker.report()`; `eject: false` turns that off) and preferring
   * `prefer.zone` while any instance there qualifies. Every option is validated
   * (InvalidArgumentError naming it). The picker follows the service until it is closed.
   */
  picker(service: string, options?: PickerOptions): Picker {
    checkSegment('service', service);
    const config = pickerConfig(options);
    this.#runtime.assertOpen('discovery.picker');
    const lists = this.#catalog(service).pipe(map((catalog) => catalog.list));
    const { log, events, monitor } = this.#runtime;
    return createPicker(lists, config, { log, events, bounded: monitor.bounded });
  }

  #catalog(service: string | undefined): Observable<Catalog> {
    // '/' cannot occur in a service name, so it safely stands for "every service".
    const id = service ?? '/';
    let catalog = this.#catalogs.get(id);
    if (!catalog) {
      catalog = catalog$(this.#runtime, this.prefix, service, (error) => this.#report(error));
      this.#catalogs.set(id, catalog);
    }
    return catalog;
  }

  #report(error: DiscoveryError): void {
    if (this.#reported.get(error.key) === error.revision) return;
    this.#reported.set(error.key, error.revision);
    this.#runtime.log.warn('discovery skipped an invalid instance entry', {
      key: error.key,
      reason: error.message,
    });
    this.#errors.next(error);
  }
}

/** @internal Creates a Discovery (`concord.discovery()`); validates `options.prefix`. */
export function createDiscovery(runtime: Runtime, options?: ServicePrefixOptions): Discovery {
  return construct(runtime, options);
}
