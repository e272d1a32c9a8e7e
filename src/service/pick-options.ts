import { checkInteger, checkName, checkOptions } from '../core/validate.js';
import { InvalidArgumentError } from '../errors.js';
import { DEFAULT_EJECT, type EjectPolicy } from './outlier.js';
import type { PickerOptions, PickStrategy } from './types.js';

/** The longest ejection accepted, in ms: what a Node timer can hold (about 24.8 days). */
const MAX_EJECT_MS = 2_147_483_647;

/** `PickerOptions` validated, with their defaults applied. */
export interface PickerConfig {
  strategy: PickStrategy;
  /** Undefined when ejection is off. */
  eject: EjectPolicy | undefined;
  /** The preferred `meta.zone`, if any. */
  zone: string | undefined;
}

/** Validates the options of `discovery.picker()` (InvalidArgumentError naming the option) and applies the defaults. */
export function pickerConfig(options: PickerOptions | undefined): PickerConfig {
  checkOptions('options', options, ['strategy', 'eject', 'prefer']);
  const strategy = options?.strategy ?? 'round-robin';
  if (strategy !== 'round-robin' && strategy !== 'random') {
    throw new InvalidArgumentError('options.strategy', "must be 'round-robin' or 'random'", strategy);
  }
  return { strategy, eject: ejectPolicy(options?.eject), zone: preferredZone(options?.prefer) };
}

function ejectPolicy(eject: PickerOptions['eject']): EjectPolicy | undefined {
  if (eject === false) return undefined;
  if (eject === undefined) return DEFAULT_EJECT;
  if (eject === null || typeof eject !== 'object') {
    throw new InvalidArgumentError('options.eject', 'must be false or an object', eject);
  }
  checkOptions('options.eject', eject, ['afterErrors', 'forMs', 'maxForMs', 'maxPercent']);
  const { afterErrors, forMs, maxForMs, maxPercent } = eject;
  checkInteger('options.eject.afterErrors', afterErrors, 1, 1_000_000);
  checkInteger('options.eject.forMs', forMs, 1, MAX_EJECT_MS);
  const first = forMs ?? DEFAULT_EJECT.forMs;
  checkInteger('options.eject.maxForMs', maxForMs, first, MAX_EJECT_MS);
  if (maxPercent !== undefined && !(typeof maxPercent === 'number' && maxPercent >= 0 && maxPercent <= 100)) {
    throw new InvalidArgumentError('options.eject.maxPercent', 'must be a number from 0 to 100', maxPercent);
  }
  return {
    afterErrors: afterErrors ?? DEFAULT_EJECT.afterErrors,
    forMs: first,
    maxForMs: maxForMs ?? Math.min(first * 10, MAX_EJECT_MS),
    maxPercent: maxPercent ?? DEFAULT_EJECT.maxPercent,
  };
}

function preferredZone(prefer: PickerOptions['prefer']): string | undefined {
  if (prefer === undefined) return undefined;
  checkOptions('options.prefer', prefer, ['zone']);
  checkName('options.prefer.zone', prefer.zone);
  return prefer.zone;
}
