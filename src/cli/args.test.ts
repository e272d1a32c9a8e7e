import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CommandSpec, helpText, parseCommand } from './args.js';
import { UsageError } from './exit.js';

const spec: CommandSpec = {
  name: 'lock',
  usage: 'lock NAME -- CMD',
  summary: 's',
  description: 'd',
  options: {
    ttl: { type: 'string', value: 'S', help: 'lease TTL\nsecond line' },
    json: { type: 'boolean', help: 'json', group: 'Output' },
    'from-revision': { type: 'string', value: 'R', help: 'r' },
  },
  positionals: { min: 1, max: 1, names: 'NAME' },
  takesCommand: true,
};

function usage(argv: string[], message: RegExp): void {
  assert.throws(
    () => parseCommand(spec, argv),
    (err: unknown) => err instanceof UsageError && message.test(err.message) && !err.message.includes('\n'),
  );
}

test('flags, the positional and the command after --, which keeps its own flags', () => {
  const parsed = parseCommand(spec, [
    'jobs',
    '--ttl',
    '30',
    '--json',
    '--',
    'rsync',
    '--json',
    '-a',
    '--',
    'x',
  ]);
  assert.deepEqual(parsed.positionals, ['jobs']);
  assert.deepEqual(parsed.command, ['rsync', '--json', '-a', '--', 'x']);
  assert.equal(parsed.flags.integer('ttl', 10, 2), 30);
  assert.equal(parsed.flags.boolean('json'), true);
  assert.equal(parsed.help, false);
  assert.equal(parseCommand(spec, ['jobs', '--ttl=7', '--', 'x']).flags.integer('ttl', 10, 2), 7);
  assert.equal(parseCommand(spec, ['jobs', '--', 'x']).flags.integer('ttl', 10, 2), 10, 'default');
});

test('every mistake is one line naming the command and the flag', () => {
  usage(['jobs', '--bogus', '--', 'x'], /^lock: unknown option --bogus$/);
  usage(['jobs', '-x', '--', 'x'], /^lock: unknown option -x$/);
  usage(['jobs', '--ttl'], /^lock: --ttl needs a value \(S\)$/);
  usage(['jobs', '--ttl', '--json', '--', 'x'], /--ttl needs a value \(S\), not the option --json/);
  usage(['jobs', '--json=yes', '--', 'x'], /^lock: --json takes no value$/);
  usage(['--', 'x'], /^lock: missing NAME$/);
  usage(['jobs', 'rsync', '-a'], /unknown option -a/);
  usage(['jobs', 'rsync'], /unexpected argument 'rsync' \(put the command to run after '--'\)/);
  usage(['jobs'], /missing the command to run: lock NAME -- CMD/);
  usage(['jobs', '--'], /missing the command to run/);
});

test('--help wins over mistakes, but not after --', () => {
  assert.equal(parseCommand(spec, ['--bogus', '-h']).help, true);
  assert.equal(parseCommand(spec, ['jobs', '--', 'cmd', '--help']).help, false);
});

test('integers and revisions are checked with their rules', () => {
  const flags = (value: string) =>
    parseCommand(spec, ['j', '--ttl', value, '--from-revision', value, '--', 'x']).flags;
  assert.throws(
    () => flags('1').integer('ttl', 10, 2),
    /^UsageError: lock: --ttl must be an integer >= 2 \(got '1'\)$/,
  );
  assert.throws(() => flags('2.5').integer('ttl', 10, 2), /must be an integer/);
  assert.throws(() => flags('1e3').integer('ttl', 10, 2), /must be an integer/);
  assert.throws(() => flags('9').integer('ttl', 10, 2, 5), /must be an integer from 2 to 5/);
  assert.equal(flags('-1').string('ttl'), '-1', 'a negative number is a value, refused by the rule');
  assert.throws(() => flags('-1').integer('ttl', 10, 2), /must be an integer >= 2/);
  assert.equal(flags('18446744073709551615').revision('from-revision', 1n), 18446744073709551615n);
  assert.throws(
    () => flags('0').revision('from-revision', 1n),
    /--from-revision must be a revision \(an integer >= 1\)/,
  );
  assert.throws(() => flags('x').revision('from-revision', 1n), /got 'x'/);
});

test('help lists the flags by group with their values, continuation lines indented', () => {
  const text = helpText(spec);
  assert.match(text, /^Usage: concord-etcd lock NAME -- CMD\n/);
  assert.match(text, /Options:\n {2}--ttl S +lease TTL\n {25}second line\n/);
  assert.match(text, /--help, -h/);
  assert.match(text, /Output:\n {2}--json +json/);
});
