import type { Counter, Histogram, Meter, ObservableGauge, ObservableUpDownCounter } from '@opentelemetry/api';

// Every metric `instrument()` records, named by OpenTelemetry's semantic-convention style:
// dotted lowercase namespaces, snake_case inside a component, durations in seconds, counters
// pluralized with an annotation unit (`{loss}`), and `.count` on an asynchronous UpDownCounter for
// a number of things that exist now (additive across processes, like semconv's
// `db.client.connection.count`); a state is an attribute, never a metric. The README's metrics
// table lists the same (test/package/readme.test.ts compares them).

/** Bucket boundaries (s) for waits, holds and handoffs: 1 ms to 5 min. */
const DURATION_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
];
/** Bucket boundaries (s) for keepalive round trips: 0.5 ms to 5 s. */
const RTT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The instruments of one `instrument()` call. */
export interface Instruments {
  lockWait: Histogram;
  lockHold: Histogram;
  lockHandoff: Histogram;
  lockLosses: Counter;
  campaignWait: Histogram;
  leadership: Histogram;
  leaderChanges: Counter;
  leadershipLosses: Counter;
  keepaliveRtt: Histogram;
  sessionLosses: Counter;
  watchReconnects: Counter;
  watchStalls: Counter;
  watchResyncs: Counter;
  workStops: Counter;
  workDrainTimeouts: Counter;
  reregistrations: Counter;
  ejections: Counter;
  configRejections: Counter;
  callFailures: Counter;
  /** Observed by one batch callback. */
  observed: {
    sessions: ObservableUpDownCounter;
    shortestLease: ObservableGauge;
    streams: ObservableUpDownCounter;
    upstreamWatches: ObservableUpDownCounter;
    subscribers: ObservableUpDownCounter;
    connections: ObservableUpDownCounter;
  };
}

/** Creates every instrument on `meter`. */
export function createInstruments(meter: Meter): Instruments {
  const seconds = (name: string, description: string, boundaries = DURATION_BUCKETS) =>
    meter.createHistogram(name, {
      description,
      unit: 's',
      advice: { explicitBucketBoundaries: boundaries },
    });
  const counter = (name: string, description: string, unit: string) =>
    meter.createCounter(name, { description, unit });
  const count = (name: string, description: string, unit: string) =>
    meter.createObservableUpDownCounter(name, { description, unit });
  return {
    lockWait: seconds('concord.lock.wait.duration', 'Time from asking for a lock to holding it'),
    lockHold: seconds('concord.lock.hold.duration', 'Time a lock was held, until released or lost'),
    lockHandoff: seconds(
      'concord.lock.handoff.duration',
      'Time from a release (or loss) to the next holder in this process that was waiting',
    ),
    lockLosses: counter('concord.lock.losses', 'Held locks lost', '{loss}'),
    campaignWait: seconds('concord.election.campaign.duration', 'Time from campaigning to being elected'),
    leadership: seconds('concord.election.leadership.duration', 'Time a leadership lasted'),
    leaderChanges: counter('concord.election.leader.changes', 'Leader changes observed', '{change}'),
    leadershipLosses: counter('concord.election.losses', 'Leaderships lost', '{loss}'),
    keepaliveRtt: seconds('concord.session.keepalive.duration', 'Keepalive round trip', RTT_BUCKETS),
    sessionLosses: counter('concord.session.losses', 'Sessions lost', '{loss}'),
    watchReconnects: counter('concord.watch.reconnects', 'Watch stream reconnects', '{reconnect}'),
    watchStalls: counter('concord.watch.stalls', 'Silent watch streams reset', '{stall}'),
    watchResyncs: counter('concord.watch.resyncs', 'Ranges re-read after compaction', '{resync}'),
    workStops: counter('concord.work.stops', 'Scoped work asked to stop', '{stop}'),
    workDrainTimeouts: counter(
      'concord.work.drain_timeouts',
      'Scoped work still running when its key was given up',
      '{timeout}',
    ),
    reregistrations: counter(
      'concord.registration.reregistrations',
      'Registrations written again after losing their key',
      '{reregistration}',
    ),
    ejections: counter('concord.discovery.ejections', 'Instances ejected by pickers', '{ejection}'),
    configRejections: counter('concord.config.rejections', 'Config revisions rejected', '{revision}'),
    callFailures: counter('concord.call.failures', 'etcd calls that failed', '{call}'),
    observed: {
      sessions: count('concord.session.count', 'Sessions kept alive', '{session}'),
      // A gauge: the shortest budget of two processes is not their sum.
      shortestLease: meter.createObservableGauge('concord.session.time_left', {
        description: 'Lease budget of the session closest to its deadline',
        unit: 's',
      }),
      streams: count('concord.watch.stream.count', 'Open gRPC watch streams', '{stream}'),
      upstreamWatches: count('concord.watch.upstream.count', 'Server-side etcd watches', '{watch}'),
      subscribers: count('concord.watch.subscriber.count', 'Watch and view subscribers', '{subscriber}'),
      connections: count(
        'concord.connection.count',
        'Connections to etcd by state: 1 for the current state, 0 for the others',
        '{connection}',
      ),
    },
  };
}
