import assert from 'node:assert/strict';
import type { Logger } from 'concord-etcd';

/** Every line a Concord logged, at every level, as text (message plus its fields as JSON). */
export interface CapturedLogs {
  readonly logger: Logger;
  readonly lines: string[];
  /** Fails naming the first line that contains `secret` (described as `label` in the failure). */
  assertNoSecret(secret: string | RegExp, label: string): void;
}

/** A logger that records debug, info, warn and error lines, to be searched for leaked secrets. */
export function captureLogs(): CapturedLogs {
  const lines: string[] = [];
  const record =
    (level: string) =>
    (message: string, fields?: Record<string, unknown>): void => {
      lines.push(`${level} ${message}${fields === undefined ? '' : ` ${serialize(fields)}`}`);
    };
  return {
    lines,
    logger: { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') },
    assertNoSecret(secret, label) {
      const leak = lines.find((line) =>
        typeof secret === 'string' ? line.includes(secret) : secret.test(line),
      );
      assert.equal(leak, undefined, `a log line contains ${label}: ${leak}`);
    },
  };
}

// Everything reachable from the fields, including Error messages, causes and stacks, since a
// secret can hide in any of them.
function serialize(fields: Record<string, unknown>): string {
  return JSON.stringify(fields, (_key, value: unknown) => {
    if (typeof value === 'bigint') return value.toString();
    if (Buffer.isBuffer(value)) return value.toString('utf8');
    if (value instanceof Error) {
      return { name: value.name, message: value.message, stack: value.stack, cause: value.cause };
    }
    return value;
  });
}
