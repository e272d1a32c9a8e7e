import { errorText } from '../core/error-text.js';
import { isPlainObject } from '../core/validate.js';
import { InvalidArgumentError } from '../errors.js';

/** A JSON-like object: what a config prefix maps to before validation. */
export type ConfigObject = { [key: string]: unknown };

/**
 * Sets an own, enumerable property. Plain assignment is not used because a key named
 * `__proto__` (a legal etcd key segment and JSON member) would replace the prototype instead.
 */
export function setOwn(target: ConfigObject, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

/** The own property `key` of `target`, or undefined (inherited properties never count). */
export function getOwn(target: ConfigObject, key: string): unknown {
  return Object.hasOwn(target, key) ? target[key] : undefined;
}

/** A copy of `value` in which every plain object is new (arrays and other values are shared). */
export function copyObjects(value: ConfigObject): ConfigObject {
  const copy: ConfigObject = {};
  for (const key of Object.keys(value)) {
    const item = value[key];
    setOwn(copy, key, isPlainObject(item) ? copyObjects(item) : item);
  }
  return copy;
}

/**
 * `over` merged onto `base`: plain objects merge key by key, recursively; anything else
 * (scalars, arrays, null) in `over` replaces what `base` has. Neither input is modified; the
 * result may share unchanged subtrees with them.
 */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over;
  const out: ConfigObject = {};
  for (const key of Object.keys(base)) setOwn(out, key, base[key]);
  for (const key of Object.keys(over)) {
    setOwn(out, key, Object.hasOwn(out, key) ? deepMerge(out[key], over[key]) : over[key]);
  }
  return out;
}

/**
 * Structural equality of validated config values: plain objects by their own keys (order
 * ignored), arrays element by element, Dates by time, everything else with `Object.is`.
 */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
  }
  if (a instanceof Date) return b instanceof Date && Object.is(a.getTime(), b.getTime());
  if (!isPlainObject(a) || !isPlainObject(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => Object.hasOwn(b, key) && deepEqual(a[key], b[key]));
}

/**
 * Freezes plain objects and arrays throughout `value` (other objects are left alone) and
 * returns it. Every subscriber receives the same value object, so none may change it under
 * the others.
 */
export function deepFreeze<T>(value: T): T {
  if ((Array.isArray(value) || isPlainObject(value)) && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

/** JSON text of `value`; anything JSON would silently drop or alter is an InvalidArgumentError. */
export function toJson(value: unknown, argument = 'value'): string {
  const rule = 'must be JSON data (objects, arrays, strings, finite numbers, booleans, null)';
  let text: string | undefined;
  try {
    text = JSON.stringify(value, (_key, item: unknown) => {
      if (
        typeof item === 'function' ||
        typeof item === 'symbol' ||
        typeof item === 'bigint' ||
        (typeof item === 'number' && !Number.isFinite(item))
      ) {
        throw new InvalidArgumentError(argument, rule, item);
      }
      return item;
    });
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw err;
    throw new InvalidArgumentError(argument, `${rule}; ${errorText(err)}`);
  }
  if (text === undefined) throw new InvalidArgumentError(argument, rule, value);
  return text;
}
