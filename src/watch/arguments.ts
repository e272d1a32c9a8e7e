import type { Runtime } from '../core/runtime.js';
import { checkInteger, checkOptions, checkRevision } from '../core/validate.js';
import { InvalidArgumentError } from '../errors.js';
import type { WatchIteratorOptions, WatchOptions, WatchRange } from './types.js';

// The checks of the public watch calls (`Concord.watch`, `view`, `watchIterator`). They run at
// the call, before anything is opened; concord's own callers build well-formed arguments and go
// to the hub directly.

/** Checks the arguments of `Concord.watch`: throws ClosedError or InvalidArgumentError. */
export function checkWatchArguments(runtime: Runtime, range: WatchRange, options?: WatchOptions): void {
  checkRange(runtime, range);
  checkWatchOptions(options);
}

/** Checks the arguments of `Concord.view`: throws ClosedError or InvalidArgumentError. */
export function checkViewArguments(runtime: Runtime, range: { prefix: string }): void {
  runtime.assertOpen('view');
  if (range === null || typeof range !== 'object')
    throw new InvalidArgumentError('range', 'must be { prefix }', range);
  checkOptions('range', range, ['prefix']);
  if (typeof range.prefix !== 'string')
    throw new InvalidArgumentError('range.prefix', 'must be a string', range.prefix);
}

/** Checks the arguments of `Concord.watchIterator`: throws ClosedError or InvalidArgumentError. */
export function checkIteratorArguments(
  runtime: Runtime,
  range: WatchRange,
  options?: WatchOptions & WatchIteratorOptions,
): void {
  checkRange(runtime, range);
  checkOptions('options', options, ['fromRevision', 'prevKv', 'maxBuffered', 'overflow']);
  checkWatchOptions({
    ...(options?.fromRevision === undefined ? {} : { fromRevision: options.fromRevision }),
    ...(options?.prevKv === undefined ? {} : { prevKv: options.prevKv }),
  });
  checkInteger('options.maxBuffered', options?.maxBuffered, 1);
  const overflow = options?.overflow ?? 'resync';
  if (overflow !== 'resync' && overflow !== 'error') {
    throw new InvalidArgumentError('options.overflow', "must be 'resync' or 'error'", overflow);
  }
}

function checkRange(runtime: Runtime, range: WatchRange): void {
  runtime.assertOpen('watch');
  if (range === null || typeof range !== 'object' || Array.isArray(range))
    throw new InvalidArgumentError('range', 'must be { key } or { prefix }', range);
  if ('prefix' in range) {
    checkOptions('range', range, ['prefix']);
    if (typeof range.prefix !== 'string')
      throw new InvalidArgumentError('range.prefix', 'must be a string', range.prefix);
  } else {
    checkOptions('range', range, ['key']);
    if (typeof range.key !== 'string' || range.key === '') {
      throw new InvalidArgumentError('range.key', 'must be a non-empty string', range.key);
    }
  }
}

function checkWatchOptions(options: WatchOptions | undefined): void {
  checkOptions('options', options, ['fromRevision', 'prevKv']);
  checkRevision('options.fromRevision', options?.fromRevision);
  if (options?.fromRevision === 0n)
    throw new InvalidArgumentError('options.fromRevision', 'must be >= 1n', 0n);
  if (options?.prevKv !== undefined && typeof options.prevKv !== 'boolean') {
    throw new InvalidArgumentError('options.prevKv', 'must be a boolean', options.prevKv);
  }
}
