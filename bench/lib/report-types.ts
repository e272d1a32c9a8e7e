import type { Machine } from './machine.js';
import type { ScenarioResult } from './types.js';

/** The content of a results file (latest.json): one run of the bench. */
export interface BenchRun {
  generatedAt: string;
  mode: 'full' | 'quick';
  /** Only some scenarios ran (--only). */
  partial: boolean;
  /** Every Concord had a `concord.events$` subscriber (--events). */
  eventsSubscriber?: boolean;
  machine: Machine;
  durationMs: number;
  scenarios: ScenarioResult[];
}
