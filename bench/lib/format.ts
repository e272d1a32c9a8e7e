import { advantage } from './stats.js';
import type { Metric } from './types.js';

/** A value in its unit, compact and readable: '1.24 ms', '52.1 k/s', '1.3 KiB', '1,000'. */
export function formatValue(value: number | null, unit: string): string {
  if (value === null || !Number.isFinite(value)) return '—';
  switch (unit) {
    case 'ms':
      return `${trim(value)} ms`;
    case 'ops/s':
      return `${si(value)}/s`;
    case 'bytes':
      return bytes(value);
    case 'count':
      return Number.isInteger(value) ? value.toLocaleString('en-US') : trim(value);
    default:
      return `${trim(value)} ${unit}`;
  }
}

/** The advantage column: '24× better', '0.8× (etcd3 better)', 'same', or '—'. */
export function formatAdvantage(metric: Metric): string {
  const ratio = advantage(metric.concord, metric.etcd3, metric.better);
  if (ratio === undefined) return '—';
  if (ratio >= 0.95 && ratio <= 1.05) return `≈ same (${ratio.toFixed(2)}×)`;
  if (ratio > 1) return `${ratio >= 10 ? ratio.toFixed(0) : ratio.toFixed(1)}× better`;
  return `${ratio.toFixed(2)}× (etcd3 better)`;
}

function trim(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 100) return Math.round(value).toLocaleString('en-US');
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

function si(value: number): string {
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} k`;
  return trim(value);
}

function bytes(value: number): string {
  if (Math.abs(value) >= 1024 * 1024) return `${(value / 1024 / 1024).toFixed(1)} MiB`;
  if (Math.abs(value) >= 1024) return `${(value / 1024).toFixed(1)} KiB`;
  return `${Math.round(value)} B`;
}
