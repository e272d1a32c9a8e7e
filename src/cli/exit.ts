import { isConcordError } from '../errors.js';

/**
 * The tool's own exit codes. `lock` and `elect` otherwise exit with CMD's code, so these sit in
 * a block programs rarely use (below timeout(1)'s 124-125 and the shell's 126-127, 128+N for
 * signals), and `2` is the usual usage error, returned before anything reaches etcd.
 */
export const EXIT = {
  OK: 0,
  /** Anything not covered below (a bug, an unexpected etcd answer). */
  FAILURE: 1,
  /** Bad flags or arguments, or input concord refuses (a config write that cannot map): nothing was written. */
  USAGE: 2,
  /** The lock or leadership was lost, or its lease budget ran low; CMD (if running) was terminated. */
  LOST: 120,
  /** etcd did not answer within --connect-timeout, or stopped answering a call that needed it. */
  UNREACHABLE: 121,
  /** etcd refused the credentials, the TLS identity or the permission. */
  REFUSED: 122,
  /** `config set --if-revision`: the key changed since that revision; nothing was written. */
  CONFLICT: 123,
  /** CMD exists but could not be executed (as in a shell). */
  CANNOT_EXECUTE: 126,
  /** CMD was not found (as in a shell). */
  NOT_FOUND: 127,
  /** Interrupted (SIGINT) before CMD started. */
  SIGINT: 130,
  /** Terminated (SIGTERM) before CMD started. */
  SIGTERM: 143,
} as const;

/** The exit-code table `concord-etcd --help` prints and the README repeats. */
export const EXIT_CODE_HELP = `Exit codes:
  0-255  lock, elect: CMD's own exit code (128+N when CMD died of signal N)
  0      views: ended by SIGINT/SIGTERM or --once; config set: written
  1      any other failure of concord-etcd itself
  2      usage error: bad flag or argument, unreadable file, a value concord refuses
         (nothing was written)
  120    lock, elect: the lock or leadership was lost, or its lease budget ran low;
         CMD got SIGTERM before the lease could expire (SIGKILL after --grace)
  121    etcd unreachable: no answer within --connect-timeout, or lost while needed
  122    etcd refused: authentication, TLS identity or permission
  123    config set --if-revision: the key changed since R; nothing was written
  126    CMD could not be executed; 127: CMD not found
  130    lock, elect: interrupted by SIGINT before CMD ran (143: SIGTERM)`;

/** A bad command line or input: one line on stderr, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** An error the tool ends with, with its exit code. */
export class ExitError extends Error {
  override readonly name = 'ExitError';
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

/** The exit code an error ends the tool with. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof ExitError) return err.code;
  if (err instanceof UsageError) return EXIT.USAGE;
  if (!isConcordError(err)) return EXIT.FAILURE;
  switch (err.code) {
    case 'INVALID_ARGUMENT':
    case 'CONFIG_VALIDATION':
      return EXIT.USAGE;
    case 'LOCK_LOST':
    case 'LEADERSHIP_LOST':
    case 'SESSION_LOST':
      return EXIT.LOST;
    case 'NOT_CONNECTED':
      return EXIT.UNREACHABLE;
    case 'AUTHENTICATION_FAILED':
    case 'PERMISSION_DENIED':
      return EXIT.REFUSED;
    case 'CONFLICT':
      return EXIT.CONFLICT;
    default:
      return EXIT.FAILURE;
  }
}
