import { InvalidArgumentError } from '../errors.js';

/** Throws unless `value` is a plain object (or undefined) whose keys are all in `allowed`. */
export function checkOptions(argument: string, value: unknown, allowed: readonly string[]): void {
  if (value === undefined) return;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidArgumentError(argument, 'must be an object', value);
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new InvalidArgumentError(
        `${argument}.${key}`,
        `is not a known option (known: ${allowed.join(', ') || 'none'})`,
      );
    }
  }
}

/** Throws unless `value` is a non-empty string without control characters. */
export function checkName(argument: string, value: unknown): asserts value is string {
  if (typeof value !== 'string') throw new InvalidArgumentError(argument, 'must be a string', value);
  if (value.length === 0) throw new InvalidArgumentError(argument, 'must not be empty');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is rejected
  if (/[\u0000-\u001f\u007f]/.test(value)) {
    throw new InvalidArgumentError(argument, 'must not contain control characters', value);
  }
}

/** Like {@link checkName}, and the value must not contain `/` (it is one key segment). */
export function checkSegment(argument: string, value: unknown): asserts value is string {
  checkName(argument, value);
  if (value.includes('/')) throw new InvalidArgumentError(argument, "must not contain '/'", value);
}

/** Throws unless `value` is undefined or an integer number of seconds >= 2. */
export function checkTtl(argument: string, value: unknown): asserts value is number | undefined {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 2 || value > 9_000_000_000) {
    throw new InvalidArgumentError(argument, 'must be an integer number of seconds >= 2', value);
  }
}

/** Throws unless `value` is undefined or an integer in [min, max]. */
export function checkInteger(
  argument: string,
  value: unknown,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): asserts value is number | undefined {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(argument, `must be an integer from ${min} to ${max}`, value);
  }
}

/** Throws unless `value` is undefined or an AbortSignal. */
export function checkSignal(argument: string, value: unknown): asserts value is AbortSignal | undefined {
  if (value === undefined) return;
  if (!(value instanceof AbortSignal))
    throw new InvalidArgumentError(argument, 'must be an AbortSignal', value);
}

/** Throws unless `value` is undefined or a non-negative bigint. */
export function checkRevision(argument: string, value: unknown): asserts value is bigint | undefined {
  if (value === undefined) return;
  if (typeof value !== 'bigint' || value < 0n) {
    throw new InvalidArgumentError(argument, 'must be a non-negative bigint revision', value);
  }
}

/** True for objects created by `{}`, `JSON.parse` or `Object.create(null)` (not arrays, Dates, classes). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
