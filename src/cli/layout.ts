import type { ElectionKeyLayout } from '../election/types.js';
import type { Flags } from './args.js';
import { UsageError } from './exit.js';

/** `--layout`: the election's key layout (concord's default, or Go's). */
export const LAYOUT_OPTION = {
  layout: {
    type: 'string',
    value: 'L',
    help: "'etcd3' (default: election/NAME/) or 'go' (NAME/<lease hex>,\nas Go's concurrency.Election and etcdctl elect)",
  },
} as const;

/** The `--layout` flag, checked. Throws {@link UsageError}. */
export function layoutFlag(flags: Flags): ElectionKeyLayout {
  const layout = flags.string('layout') ?? 'etcd3';
  if (layout !== 'etcd3' && layout !== 'go')
    throw new UsageError(`--layout must be etcd3 or go, not '${layout}'`);
  return layout;
}
