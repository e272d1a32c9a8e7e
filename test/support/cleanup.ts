import { afterEach } from 'node:test';

type Cleanup = () => Promise<unknown> | unknown;

/**
 * A list of cleanups run after each test of the file, newest first, each awaited (registers the
 * file's `afterEach` hook): `cleanup.push(() => concord.close())` beside what it undoes.
 */
export function cleanupAfterEach(): { push(...fns: Cleanup[]): void } {
  const pending: Cleanup[] = [];
  afterEach(async () => {
    for (const fn of pending.splice(0).reverse()) await fn();
  });
  return { push: (...fns) => void pending.push(...fns) };
}
