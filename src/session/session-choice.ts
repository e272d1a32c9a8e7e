import type { Runtime } from '../core/runtime.js';
import { checkTtl } from '../core/validate.js';
import { InvalidArgumentError, SessionLostError } from '../errors.js';
import { createSession, Session } from './session.js';

/**
 * @internal The session a primitive should use: the caller's `options.session`, or a new one
 * (TTL `options.ttl`) that the caller owns and must close when its handle ends. Giving both is
 * an error. Throws {@link SessionLostError} if the given session is already lost or closed.
 */
export async function sessionFor(
  runtime: Runtime,
  options: { session?: Session; ttl?: number },
  what: string,
): Promise<{ session: Session; owned: boolean }> {
  checkSessionChoice(options);
  const { session, ttl } = options;
  if (session !== undefined) {
    if (!session.isAlive) throw new SessionLostError(`${what}: the session is lost or closed`);
    return { session, owned: false };
  }
  return { session: await createSession(runtime, ttl === undefined ? {} : { ttl }), owned: true };
}

/**
 * @internal Checks the `{ session?, ttl? }` pair every lease-backed primitive takes: a Session
 * from `concord.session()`, or a TTL for a session of its own, never both.
 */
export function checkSessionChoice(options: { session?: unknown; ttl?: unknown }): void {
  if (options.session !== undefined && !(options.session instanceof Session)) {
    throw new InvalidArgumentError('options.session', 'must be a Session from concord.session()');
  }
  if (options.session !== undefined && options.ttl !== undefined) {
    throw new InvalidArgumentError('options.ttl', 'must not be given together with options.session');
  }
  checkTtl('options.ttl', options.ttl);
}
