import type { EtcdCluster } from '../../test/support/etcd.js';
import type { Scope } from './scope.js';

/** Which way a metric improves. */
export type Better = 'higher' | 'lower';

/** One measured quantity of a scenario, for concord and for the plain etcd3 way side by side. */
export interface Metric {
  /** What is measured, e.g. 'handoff p50'. */
  name: string;
  /** Unit of both values: 'ms', 'ops/s', 'bytes', 'count', ... */
  unit: string;
  better: Better;
  /** null when that side could not be measured (see the scenario's note). */
  concord: number | null;
  etcd3: number | null;
  /** Plotted in the chart (one per scenario). */
  primary?: boolean;
}

/** A goal from the issues, checked against this run's figures. */
export interface Target {
  /** The goal as written in the issue, e.g. 'p50 within 10% of raw etcd3'. */
  goal: string;
  /** The figure that decides it, as text, e.g. 'concord 1.02 ms vs etcd3 0.98 ms (+4%)'. */
  actual: string;
  met: boolean;
}

/** What a scenario hands back to the runner. */
export interface ScenarioOutcome {
  metrics: Metric[];
  targets?: Target[];
  /** Parameters that shaped the run (subscriber counts, samples, rounds). */
  params: Record<string, number | string>;
  /** Set when the concord side could not run (primitive not available): why. */
  unavailable?: string;
  /** Anything a reader needs to interpret the figures (how each side was measured). */
  notes?: string[];
}

/** One scenario's entry in the results. */
export interface ScenarioResult extends Partial<ScenarioOutcome> {
  id: string;
  title: string;
  status: 'ok' | 'unavailable' | 'error';
  /** The error message when status is 'error'. */
  error?: string;
  durationMs: number;
}

/** Everything a scenario gets from the runner. */
export interface BenchContext {
  /** --quick: reduced sizes for the CI smoke run. */
  quick: boolean;
  cluster: EtcdCluster;
  /** Owns the clients and subscriptions the scenario opens; the runner closes it afterwards. */
  scope: Scope;
  /** Aborted when the scenario exceeded its time budget; loops must stop. */
  signal: AbortSignal;
  /** Reports progress on stderr. */
  progress(message: string): void;
}

/** A benchmark: concord and the plain etcd3 way of doing one job, in alternating rounds. */
export interface Scenario {
  id: string;
  title: string;
  /** Upper bound on the scenario's run time (ms), for the quick and the full run. */
  budgetMs: { quick: number; full: number };
  run(ctx: BenchContext): Promise<ScenarioOutcome>;
}
