import {
  EtcdAuthenticationFailedError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCUnauthenticatedError,
  GRPCUnavailableError,
  isRecoverableError,
} from 'etcd3';
import {
  AuthenticationFailedError,
  ConcordError,
  NotConnectedError,
  PermissionDeniedError,
  SessionLostError,
} from '../errors.js';

/**
 * Translates an error from etcd3 or gRPC into concord's typed errors where one fits;
 * anything else is returned unchanged.
 */
export function toConcordError(err: unknown, what: string): unknown {
  if (err instanceof ConcordError || !(err instanceof Error)) return err;
  const text = err.message;
  if (err instanceof EtcdPermissionDeniedError || /permission denied/i.test(text)) {
    return new PermissionDeniedError(`${what}: etcd denied permission`, { cause: err });
  }
  if (
    err instanceof EtcdAuthenticationFailedError ||
    err instanceof GRPCUnauthenticatedError ||
    /authentication failed|invalid auth token|user name is empty|auth: invalid/i.test(text)
  ) {
    return new AuthenticationFailedError(`${what}: etcd rejected the credentials`, { cause: err });
  }
  if (/requested lease not found/i.test(text)) {
    return new SessionLostError(`${what}: the session's lease no longer exists`, { cause: err });
  }
  if (/certificate|handshake|SSL|TLS|self.signed|unable to verify/i.test(text)) {
    return new AuthenticationFailedError(`${what}: TLS handshake failed (${shorten(text)})`, { cause: err });
  }
  if (
    err instanceof GRPCUnavailableError ||
    err instanceof GRPCDeadlineExceededError ||
    isRecoverableError(err) ||
    /no connection established|failed to connect|ECONNREFUSED|deadline exceeded/i.test(text)
  ) {
    return new NotConnectedError(`${what}: etcd is not reachable (${shorten(text)})`, { cause: err });
  }
  return err;
}

/** True for errors worth retrying after a reconnect (the server may be back soon). */
export function isTransient(err: unknown): boolean {
  return toConcordError(err, '') instanceof NotConnectedError;
}

function shorten(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
