import type { Command } from './args.js';
import * as config from './commands/config.js';
import * as elect from './commands/elect.js';
import * as leader from './commands/leader.js';
import * as lock from './commands/lock.js';
import * as locks from './commands/locks.js';
import * as services from './commands/services.js';
import * as status from './commands/status.js';
import * as watch from './commands/watch.js';

/** Every command, in the order `--help` lists them. */
export const COMMANDS: readonly Command[] = [
  lock,
  elect,
  watch,
  leader,
  locks,
  services,
  config.get,
  config.watch,
  config.set,
  status,
];

/** The command named by the first argument(s) (`lock`, `config set`) and the arguments after it. */
export function findCommand(argv: readonly string[]): { command: Command; rest: string[] } | undefined {
  for (const words of [2, 1]) {
    const name = argv.slice(0, words).join(' ');
    const command = COMMANDS.find((c) => c.spec.name === name);
    if (command) return { command, rest: argv.slice(words) };
  }
  return undefined;
}
