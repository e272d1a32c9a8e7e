import { ExponentialBackoff, handleWhen, noop, retry } from 'cockatiel';
import { type IOptions, isRecoverableError } from 'etcd3';
import type { EventBus } from '../core/events.js';
import { asEtcd3Policy, type ConcordPolicy } from '../core/policies.js';
import { ConcordError } from '../errors.js';
import { toConcordError } from './translate.js';

/** What the etcd3 client is built from: checked options with their defaults applied. */
export interface ClientSettings {
  endpoints: readonly string[];
  /** Deadline of every unary call, in ms. */
  callTimeoutMs: number;
  auth: { username: string; password: string } | undefined;
  tls: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer } | undefined;
  /** The caller's etcd3 fault handling; each one missing gets concord's default. */
  policies: {
    global?: ConcordPolicy | undefined;
    host?: ((host: string) => ConcordPolicy) | undefined;
  };
}

/**
 * The options of concord's one root `Etcd3` client: gRPC keepalives, a deadline on every unary
 * call, fault handling without etcd3's per-host circuit breaker, auth and TLS. Every unary call
 * that fails (after the global policy's retries) is a `call.failed` event on `events`.
 */
export function clientOptions(settings: ClientSettings, events: EventBus): IOptions {
  const { callTimeoutMs, auth, tls, policies } = settings;
  const options: IOptions = {
    hosts: [...settings.endpoints],
    // Unary calls get a deadline so a silent (blackholed) server fails them instead of hanging.
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    grpcOptions: {
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      // Range pages of thousands of keys outgrow gRPC's default 4 MiB receive limit.
      'grpc.max_receive_message_length': 256 * 1024 * 1024,
      // HTTP/2 flow-control window of the connection and of each call. Node's default, 64 KiB,
      // makes etcd wait for a window update every 64 KiB of a response: a range page of 5,000
      // instances (~650 KiB) took ten round trips through both event loops. Go's etcd client
      // grows its window up to 16 MiB; 4 MiB carries a page in one go, and is only ever filled
      // by responses concord is reading.
      'grpc-node.flow_control_window': 4 * 1024 * 1024,
    },
    faultHandling: {
      // etcd3's default host policy is a circuit breaker that opens when a watch is cancelled
      // client-side, then fails every call for 5 s.
      host: (host) => asEtcd3Policy(policies.host?.(host) ?? noop),
      global: asEtcd3Policy(
        reportingFailures(
          policies.global ??
            retry(handleWhen(isRecoverableError), {
              maxAttempts: 3,
              backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 1_000 }),
            }),
          events,
        ),
      ),
    },
  };
  if (auth) options.auth = { username: auth.username, password: auth.password };
  if (tls) {
    options.credentials = {
      // etcd3 types it as required, but gRPC's createSsl takes none as "the system's root CAs".
      rootCertificate: tls.ca === undefined ? (undefined as unknown as Buffer) : Buffer.from(tls.ca),
      ...(tls.key === undefined ? {} : { privateKey: Buffer.from(tls.key) }),
      ...(tls.cert === undefined ? {} : { certChain: Buffer.from(tls.cert) }),
    };
  }
  return options;
}

/**
 * `policy`, reporting each call that fails through it as a `call.failed` event. etcd3 runs every
 * unary call (concord's own range pages too) through the global policy, so this is the one place
 * all of them pass. A call made while nobody observes the events costs one branch.
 */
function reportingFailures(policy: ConcordPolicy, events: EventBus): ConcordPolicy {
  const report = (err: unknown) => {
    const typed = toConcordError(err, '');
    events.emit({
      type: 'call.failed',
      code: typed instanceof ConcordError ? typed.code : 'UNKNOWN',
      error: err instanceof Error ? err.name : typeof err,
    });
    throw err;
  };
  return {
    execute(fn, signal) {
      const result = policy.execute(fn, signal);
      return events.observed ? result.catch(report) : result;
    },
  };
}
