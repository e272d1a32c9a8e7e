import type { Scenario } from '../lib/types.js';
import { config } from './config.js';
import { configRollout } from './config-rollout.js';
import { discovery } from './discovery.js';
import { discoveryKill } from './discovery-kill.js';
import { discoveryLoad } from './discovery-load.js';
import { electionHandoff } from './election.js';
import { failover } from './failover.js';
import { fanout } from './fanout.js';
import { latency } from './latency.js';
import { lock } from './lock.js';
import { resync } from './resync.js';
import { scale } from './scale.js';

/** Every scenario, in the order a run executes them. */
export const scenarios: Scenario[] = [
  fanout,
  latency,
  lock,
  electionHandoff,
  failover,
  discovery,
  discoveryLoad,
  discoveryKill,
  config,
  configRollout,
  resync,
  scale,
];
