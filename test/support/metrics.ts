// An OpenTelemetry SDK meter provider whose metrics a test reads on demand (the SDK's own
// MetricReader, collected in memory), flattened to one record per data point.
import type { Attributes } from '@opentelemetry/api';
import { DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';

/** One data point: a counter's or gauge's value, or a histogram's count and sum. */
export interface Point {
  name: string;
  unit: string;
  attributes: Attributes;
  /** Counters and gauges: the value; histograms: the number of recordings. */
  value: number;
  /** Histograms only: the sum of the recordings. */
  sum?: number;
}

class OnDemandReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

/** A meter provider for `instrument()` and a way to read what it recorded. */
export interface TestMeters {
  readonly provider: MeterProvider;
  /** Collects now: every data point of every metric. */
  collect(): Promise<Point[]>;
  shutdown(): Promise<void>;
}

export function testMeters(): TestMeters {
  const reader = new OnDemandReader();
  const provider = new MeterProvider({ readers: [reader] });
  return {
    provider,
    async collect() {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length > 0) throw new AggregateError(errors, 'collecting metrics failed');
      const points: Point[] = [];
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const metric of scope.metrics) {
          const { name, unit } = metric.descriptor;
          for (const point of metric.dataPoints) {
            const { attributes } = point;
            if (metric.dataPointType === DataPointType.HISTOGRAM) {
              const { count, sum } = point.value as { count: number; sum?: number };
              points.push({ name, unit, attributes, value: count, sum: sum ?? 0 });
            } else {
              points.push({ name, unit, attributes, value: point.value as number });
            }
          }
        }
      }
      return points;
    },
    shutdown: () => provider.shutdown(),
  };
}

/** The sum of the values of `name`'s points whose attributes include `where`. */
export function total(points: readonly Point[], name: string, where: Attributes = {}): number {
  return points
    .filter((p) => p.name === name && Object.entries(where).every(([k, v]) => p.attributes[k] === v))
    .reduce((sum, p) => sum + p.value, 0);
}
