import { parseArgs } from 'node:util';
import { UsageError } from './exit.js';

/** One flag of a command: `--name VALUE` (string) or `--name` (boolean). */
export interface OptionSpec {
  type: 'string' | 'boolean';
  /** What the value is, for help: `S`, `MS`, `LIST`, `FILE`... (string flags only). */
  value?: string;
  /** One line of help (more lines are indented under it). */
  help: string;
  /** Help section: the command's own flags first, then these. */
  group?: 'Output' | 'Connection';
}

/** A command's name, help and flags, enough to parse its arguments and print its --help. */
export interface CommandSpec {
  /** As typed: `lock`, `config set`. */
  name: string;
  /** The synopsis after `concord-etcd `. */
  usage: string;
  /** One line for the command list. */
  summary: string;
  /** Paragraphs shown by --help under the synopsis. */
  description: string;
  options: Readonly<Record<string, OptionSpec>>;
  /** How many arguments before `--` the command takes. */
  positionals: { min: number; max: number; names: string };
  /** `lock` and `elect`: a command to run follows `--`. */
  takesCommand?: boolean;
  /** Extra help sections (environment, exit codes, examples). */
  more?: string;
}

/** A subcommand: its spec (flags, help) and what it does; resolves with the exit code. */
export interface Command {
  spec: CommandSpec;
  run(parsed: Parsed): Promise<number>;
}

/** A parsed command line: flags, positional arguments and (after `--`) the command to run. */
export interface Parsed {
  flags: Flags;
  positionals: string[];
  command: string[];
  help: boolean;
}

/**
 * Parses `argv` (the arguments after the command name) with `util.parseArgs`, in non-strict
 * mode so that every mistake gets one short message of ours, the same on every Node version:
 * an unknown flag, a value missing or given to a boolean flag, a wrong number of arguments, a
 * missing `--`. Throws {@link UsageError}. `--help`/`-h` before `--` wins over any mistake.
 */
export function parseCommand(spec: CommandSpec, argv: readonly string[]): Parsed {
  const { tokens } = parseArgs({
    args: [...argv],
    options: { ...toParseArgs(spec.options), help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const end = tokens.findIndex((t) => t.kind === 'option-terminator');
  const before = end < 0 ? tokens : tokens.slice(0, end);
  const help = before.some((t) => t.kind === 'option' && t.name === 'help');
  const values: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  for (const token of before) {
    if (token.kind === 'positional') positionals.push(token.value);
    else if (token.kind === 'option' && token.name !== 'help' && !help) {
      values[token.name] = optionValue(spec, token.name, token.rawName, token.value, token.inlineValue);
    }
  }
  const command = end < 0 ? [] : argv.slice(tokens[end]!.index + 1);
  if (!help) checkShape(spec, positionals, command, end >= 0);
  return { flags: new Flags(spec.name, values), positionals, command, help };
}

function toParseArgs(options: Readonly<Record<string, OptionSpec>>) {
  return Object.fromEntries(Object.entries(options).map(([name, { type }]) => [name, { type }]));
}

function optionValue(
  spec: CommandSpec,
  name: string,
  rawName: string,
  value: string | undefined,
  inline: boolean | undefined,
): string | boolean {
  const option = spec.options[name];
  const where = `${spec.name}: ${rawName}`;
  if (!option) throw new UsageError(`${spec.name}: unknown option ${rawName}`);
  if (option.type === 'boolean') {
    if (value !== undefined) throw new UsageError(`${where} takes no value`);
    return true;
  }
  if (value === undefined) throw new UsageError(`${where} needs a value (${option.value ?? 'VALUE'})`);
  // `--ttl --json` is a forgotten value, not a TTL of "--json"; `--ttl=-1` says what it means.
  if (!inline && value.startsWith('-') && !/^-\d/.test(value)) {
    throw new UsageError(`${where} needs a value (${option.value ?? 'VALUE'}), not the option ${value}`);
  }
  return value;
}

function checkShape(spec: CommandSpec, positionals: string[], command: string[], terminated: boolean): void {
  const { min, max, names } = spec.positionals;
  if (positionals.length < min) throw new UsageError(`${spec.name}: missing ${names}`);
  if (positionals.length > max) {
    const extra = positionals[max];
    const hint = spec.takesCommand ? ` (put the command to run after '--')` : '';
    throw new UsageError(`${spec.name}: unexpected argument '${extra}'${hint}`);
  }
  if (spec.takesCommand && command.length === 0) {
    throw new UsageError(`${spec.name}: missing the command to run: ${spec.name} ${names} -- CMD [ARGS...]`);
  }
  if (!spec.takesCommand && terminated && command.length > 0) {
    throw new UsageError(`${spec.name}: unexpected argument '${command[0]}'`);
  }
}

/** The flags of one command line, read with their rules; every bad value is a {@link UsageError}. */
export class Flags {
  constructor(
    private readonly command: string,
    private readonly values: Readonly<Record<string, string | boolean>>,
  ) {}

  /** The value of a string flag, or undefined when absent. */
  string(name: string): string | undefined {
    const value = this.values[name];
    return typeof value === 'string' ? value : undefined;
  }

  /** Whether a boolean flag was given. */
  boolean(name: string): boolean {
    return this.values[name] === true;
  }

  /** A string flag as an integer in [min, max], or `fallback` when absent. */
  integer(name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const text = this.string(name);
    if (text === undefined) return fallback;
    const value = /^-?\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
      throw this.bad(name, `must be an integer ${range}`, text);
    }
    return value;
  }

  /** A string flag as a revision (a decimal integer >= min), or undefined when absent. */
  revision(name: string, min: bigint): bigint | undefined {
    const text = this.string(name);
    if (text === undefined) return undefined;
    if (!/^\d+$/.test(text) || BigInt(text) < min) {
      throw this.bad(name, `must be a revision (an integer >= ${min})`, text);
    }
    return BigInt(text);
  }

  /** A {@link UsageError} naming this command, the flag and its rule. */
  bad(name: string, rule: string, received?: string): UsageError {
    const got = received === undefined ? '' : ` (got '${received}')`;
    return new UsageError(`${this.command}: --${name} ${rule}${got}`);
  }
}

/** The --help text of a command. */
export function helpText(spec: CommandSpec): string {
  const sections = [`Usage: concord-etcd ${spec.usage}`, spec.description];
  const groups = new Map<string, string[]>();
  for (const [name, option] of Object.entries(spec.options)) {
    const group = option.group ?? 'Options';
    const flag = option.type === 'string' ? `--${name} ${option.value ?? 'VALUE'}` : `--${name}`;
    const [first, ...rest] = option.help.split('\n');
    const lines = [`  ${flag.padEnd(22)} ${first}`, ...rest.map((line) => `  ${' '.repeat(22)} ${line}`)];
    groups.set(group, [...(groups.get(group) ?? []), ...lines]);
  }
  groups.set('Options', [...(groups.get('Options') ?? []), `  ${'--help, -h'.padEnd(22)} this help`]);
  for (const [group, lines] of groups) sections.push(`${group}:\n${lines.join('\n')}`);
  if (spec.more) sections.push(spec.more);
  return `${sections.join('\n\n')}\n`;
}
