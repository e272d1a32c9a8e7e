import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// `npm run bench` runs through tsx without --expose-gc; enabling the flag at runtime and taking
// `gc` from a fresh context is the documented way to get a full collection anyway.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

/**
 * Memory the process holds after full garbage collections, in bytes: the JS heap plus array
 * buffers (etcd values arrive as Buffers, which live outside the JS heap).
 */
export function liveMemory(): number {
  collect();
  collect();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}
