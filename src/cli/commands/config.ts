import { map } from 'rxjs';
import type { Command, CommandSpec, Parsed } from '../args.js';
import { configTree } from '../config-tree.js';
import { CONNECTION_OPTIONS, closeWithin, connect } from '../connect.js';
import { EXIT, UsageError } from '../exit.js';
import { runView } from '../live.js';
import { jsonLine, VIEW_OPTIONS, wantsJson } from '../output.js';

const OUTPUT = `JSON lines ("invalid" lists the keys that cannot be part of the value, and why):
  {"type":"config","prefix":"app/","revision":"57","value":{"db":{"pool":20}},
   "invalid":[{"path":"db/pool/max","issue":"key 'db/pool/max' cannot be placed: ..."}]}`;

const DESCRIPTION = `Keys under PREFIX ('/' is appended when missing) map to one nested value by their '/'
segments, as the library's concord.config(PREFIX) maps them: values are JSON, a value that
is not JSON is a string. Keys that cannot be placed (a scalar with keys below it, a leaf
two keys set, an empty segment) are left out and listed as invalid.`;

function viewSpec(name: 'get' | 'watch'): CommandSpec {
  const get = name === 'get';
  return {
    name: `config ${name}`,
    usage: `config ${name} PREFIX [--json]${get ? '' : ' [--once]'}`,
    summary: get ? 'print a live config once: the nested value, invalid keys marked' : 'follow a live config',
    description: `${get ? 'Prints' : 'Follows'} the config under PREFIX${get ? ' once' : ', on every change'}.\n${DESCRIPTION}\n\n${OUTPUT}`,
    options: get
      ? { json: VIEW_OPTIONS.json!, ...CONNECTION_OPTIONS }
      : { ...VIEW_OPTIONS, ...CONNECTION_OPTIONS },
    positionals: { min: 1, max: 1, names: 'PREFIX' },
  };
}

async function runConfigView(parsed: Parsed, once: boolean): Promise<number> {
  const { flags, positionals } = parsed;
  const concord = await connect(flags);
  const prefix = concord.config(positionals[0]!).prefix;
  const states = concord
    .view({ prefix })
    .pipe(map((view) => ({ revision: view.revision, ...configTree(prefix, view.entries.values()) })));
  return runView(concord, flags, {
    title: `config '${prefix}'`,
    mode: 'redraw',
    states,
    json: ({ revision, value, invalid }) => [{ type: 'config', prefix, revision, value, invalid }],
    screen: ({ revision, value, invalid }) => [
      `revision ${revision}`,
      ...JSON.stringify(value, null, 2).split('\n'),
      ...(invalid.length === 0 ? [] : ['', 'INVALID keys (left out of the value):']),
      ...invalid.map(({ path, issue }) => `  ✗ ${path}: ${issue}`),
    ],
    once,
  });
}

export const get: Command = { spec: viewSpec('get'), run: (parsed) => runConfigView(parsed, true) };
export const watch: Command = { spec: viewSpec('watch'), run: (parsed) => runConfigView(parsed, false) };

export const set: Command = {
  spec: {
    name: 'config set',
    usage: 'config set PREFIX PATH JSON [--if-revision R] [--json]',
    summary: 'write one config value (compare-and-set with --if-revision)',
    description: `Writes JSON to the key PATH below PREFIX ('db/pool' under 'app/' is the key app/db/pool),
through the library's config.set(): the write is refused (exit 2, nothing written) when it
would leave keys that cannot map to one value. JSON must be valid JSON: a string is
'"text"'. With --if-revision R it is a compare-and-set on the key's own mod revision (0:
only if the key does not exist); a key changed since then is not written (exit 123).

Prints the revision of the write: {"type":"config-set","prefix":"app/","path":"db/pool",
"revision":"58"} (JSON with --json or when stdout is not a terminal).`,
    options: {
      'if-revision': {
        type: 'string',
        value: 'R',
        help: "write only if the key's mod revision is still R (0: only if absent)",
      },
      json: VIEW_OPTIONS.json!,
      ...CONNECTION_OPTIONS,
    },
    positionals: { min: 3, max: 3, names: 'PREFIX PATH JSON' },
  },
  async run({ flags, positionals }) {
    const [prefixArg, path, text] = positionals as [string, string, string];
    const ifRevision = flags.revision('if-revision', 0n);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new UsageError(`config set: JSON is not valid JSON (a string is written '"text"'): ${text}`);
    }
    const concord = await connect(flags);
    try {
      const config = concord.config(prefixArg);
      const { revision } = await config.set(path, value, ifRevision === undefined ? {} : { ifRevision });
      const result = { type: 'config-set', prefix: config.prefix, path, revision };
      process.stdout.write(
        wantsJson(flags)
          ? jsonLine(result)
          : `${config.prefix}${path} = ${JSON.stringify(value)} (revision ${revision})\n`,
      );
      return EXIT.OK;
    } finally {
      await closeWithin(concord, 3_000);
    }
  },
};
