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

/**
 * {@link liveMemory} once the I/O callback running now has returned. A measurement taken in the
 * continuation of a response also counts what that response's callback scope still holds (grpc-js
 * keeps the raw chunks of the last message until then: 0.6 MiB for a page of 5,000 instances),
 * which no consumer keeps; one turn of the event loop later they are gone.
 */
export async function settledMemory(): Promise<number> {
  await new Promise((resolve) => setImmediate(resolve));
  return liveMemory();
}
