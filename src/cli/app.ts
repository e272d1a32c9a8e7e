// The `concord-etcd` commands: help, dispatch, errors to exit codes (main.ts loads this lazily).
import pkg from '../../package.json' with { type: 'json' };
import { errorText } from '../core/error-text.js';
import { type Command, helpText, parseCommand } from './args.js';
import * as config from './commands/config.js';
import * as elect from './commands/elect.js';
import * as leader from './commands/leader.js';
import * as lock from './commands/lock.js';
import * as locks from './commands/locks.js';
import * as services from './commands/services.js';
import * as status from './commands/status.js';
import * as watch from './commands/watch.js';
import { EXIT, EXIT_CODE_HELP, exitCodeOf, UsageError } from './exit.js';

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

function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.spec.name.length)) + 2;
  const list = COMMANDS.map((c) => `  ${c.spec.name.padEnd(width)} ${c.spec.summary}`).join('\n');
  return `concord-etcd ${pkg.version}: coordination on etcd from the shell

Usage: concord-etcd COMMAND [ARGS...] [OPTIONS]

Commands:
${list}

Live views redraw in place on a terminal; with --json, or when stdout is not a terminal,
they print one JSON object per line. They run until SIGINT/SIGTERM (or --once).

Every command takes --endpoints, --namespace, --cacert/--cert/--key, --user and
--connect-timeout; "concord-etcd COMMAND --help" shows its own flags and output.

Environment:
  ETCD_ENDPOINTS     default endpoints, comma separated (else 127.0.0.1:2379)
  CONCORD_PASSWORD   the password of --user (else read from standard input)

${EXIT_CODE_HELP}
`;
}

/**
 * `config` alone (or `config --help`): the commands of the group. Anything else is unknown.
 * Throws {@link UsageError} unless help was asked for.
 */
function groupHelp(argv: readonly string[]): number {
  const group = COMMANDS.filter((c) => c.spec.name.startsWith(`${argv[0]} `));
  if (group.length === 0) {
    const names = COMMANDS.map((c) => c.spec.name).join(', ');
    throw new UsageError(`unknown command '${argv[0]}' (commands: ${names}; see concord-etcd --help)`);
  }
  const help = argv[1] === '--help' || argv[1] === '-h';
  if (!help) throw new UsageError(`${argv[0]}: say which: ${group.map((c) => c.spec.name).join(', ')}`);
  process.stdout.write(
    `${group.map((c) => `concord-etcd ${c.spec.usage}\n    ${c.spec.summary}`).join('\n')}\n`,
  );
  return EXIT.OK;
}

/** Runs `concord-etcd ...argv`; resolves with the exit code (errors are printed, one line). */
export async function cli(argv: readonly string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    (argv.length === 0 ? process.stderr : process.stdout).write(topHelp());
    return argv.length === 0 ? EXIT.USAGE : EXIT.OK;
  }
  if (argv[0] === '--version' || argv[0] === '-v') {
    process.stdout.write(`${pkg.version}\n`);
    return EXIT.OK;
  }
  try {
    const found = findCommand(argv);
    if (!found) return groupHelp(argv);
    const parsed = parseCommand(found.command.spec, found.rest);
    if (parsed.help) {
      process.stdout.write(helpText(found.command.spec));
      return EXIT.OK;
    }
    return await found.command.run(parsed);
  } catch (err) {
    process.stderr.write(`concord-etcd: ${errorText(err)}\n`);
    return exitCodeOf(err);
  }
}
