import { readFileSync } from 'node:fs';
import type { Concord } from '../concord.js';
import { errorText } from '../core/error-text.js';
import type { Logger } from '../core/log.js';
import type { ConcordOptions, ConcordTls } from '../options.js';
import type { Flags, OptionSpec } from './args.js';
import { EXIT, ExitError } from './exit.js';
import { readPassword } from './password.js';

const DEFAULT_ENDPOINT = '127.0.0.1:2379';
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/** The flags every command that talks to etcd takes. */
export const CONNECTION_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  endpoints: {
    type: 'string',
    value: 'LIST',
    help: `etcd endpoints, comma separated\n(default: $ETCD_ENDPOINTS, then ${DEFAULT_ENDPOINT})`,
    group: 'Connection',
  },
  namespace: {
    type: 'string',
    value: 'PREFIX',
    help: 'prefix of every key read or written (default: none)',
    group: 'Connection',
  },
  cacert: {
    type: 'string',
    value: 'FILE',
    help: 'CA certificate (PEM) to verify etcd with',
    group: 'Connection',
  },
  cert: { type: 'string', value: 'FILE', help: 'client certificate (PEM), with --key', group: 'Connection' },
  key: { type: 'string', value: 'FILE', help: 'client private key (PEM), with --cert', group: 'Connection' },
  user: {
    type: 'string',
    value: 'NAME',
    help: 'authenticate as NAME; the password is $CONCORD_PASSWORD, else the\nfirst line of standard input (a prompt on a terminal), never a flag',
    group: 'Connection',
  },
  'connect-timeout': {
    type: 'string',
    value: 'MS',
    help: `fail (exit 121) when etcd does not answer within MS\n(default ${DEFAULT_CONNECT_TIMEOUT_MS})`,
    group: 'Connection',
  },
  verbose: { type: 'boolean', help: "print the library's warnings to stderr", group: 'Connection' },
};

/** The endpoints the flags name, as the tool shows them. */
export function endpointsOf(flags: Flags): string[] {
  const text = flags.string('endpoints') ?? process.env.ETCD_ENDPOINTS ?? DEFAULT_ENDPOINT;
  const endpoints = text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (endpoints.length === 0) throw flags.bad('endpoints', 'must name at least one host:port', text);
  return endpoints;
}

/** The connection flags as {@link ConcordOptions}: files read, the password asked for. */
export async function concordOptions(flags: Flags): Promise<ConcordOptions> {
  const timeout = flags.integer('connect-timeout', DEFAULT_CONNECT_TIMEOUT_MS, 100);
  const options: ConcordOptions = {
    endpoints: endpointsOf(flags),
    callTimeoutMs: timeout,
    connectTimeoutMs: timeout,
  };
  const namespace = flags.string('namespace');
  if (namespace !== undefined) options.namespace = namespace;
  const tls = tlsOf(flags);
  if (tls) options.tls = tls;
  const user = flags.string('user');
  if (user !== undefined) {
    if (user === '' || user.includes(':')) {
      throw flags.bad(
        'user',
        'takes the user name only: the password comes from CONCORD_PASSWORD or standard input, never the command line',
      );
    }
    options.auth = { username: user, password: await readPassword(user) };
  }
  if (flags.boolean('verbose')) options.logger = stderrLogger();
  return options;
}

function tlsOf(flags: Flags): ConcordTls | undefined {
  const [hasCert, hasKey] = [flags.string('cert') !== undefined, flags.string('key') !== undefined];
  if (hasCert !== hasKey)
    throw flags.bad(hasCert ? 'cert' : 'key', `needs ${hasCert ? '--key' : '--cert'} too`);
  const [ca, cert, key] = ['cacert', 'cert', 'key'].map((name) => readPem(flags, name));
  if (ca === undefined && cert === undefined) return undefined;
  const tls: ConcordTls = {};
  if (ca) tls.ca = ca;
  if (cert && key) Object.assign(tls, { cert, key });
  return tls;
}

function readPem(flags: Flags, name: string): Buffer | undefined {
  const path = flags.string(name);
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? errorText(err);
    throw flags.bad(name, `names a file that cannot be read (${why})`, path);
  }
}

function stderrLogger(): Logger {
  const write = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    const detail = fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : '';
    process.stderr.write(`concord-etcd: [${level}] ${message}${detail}\n`);
  };
  return { info: write('info'), warn: write('warn'), error: write('error') };
}

/**
 * Connects to etcd with the connection flags and proves it answers (a status call) within
 * `--connect-timeout`, so an unreachable cluster ends the tool with a clear message and exit
 * code 121 instead of a silent wait; wrong credentials end it with 122.
 */
export async function connect(flags: Flags): Promise<Concord> {
  return connectWith(await concordOptions(flags));
}

/**
 * A Concord, the library loaded on first use: `--help` and usage errors never pay the half
 * second that loading etcd3 and gRPC takes.
 */
export async function newConcord(options: ConcordOptions): Promise<Concord> {
  const { Concord } = await import('../concord.js');
  return new Concord(options);
}

/** {@link connect} with options already made by {@link concordOptions}. */
export async function connectWith(options: ConcordOptions): Promise<Concord> {
  const concord = await newConcord(options);
  const timeoutMs = options.callTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const where = [options.endpoints ?? []].flat().join(',');
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ExitError(`etcd at ${where} did not answer within ${timeoutMs} ms`, EXIT.UNREACHABLE)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([concord.etcd.maintenance.status(), deadline]);
    return concord;
  } catch (err) {
    await closeWithin(concord, 1_000);
    if (err instanceof ExitError) throw err;
    if (options.auth && /authentication is not enabled/i.test(errorText(err))) {
      throw new ExitError(
        `connecting to ${where}: --user given, but etcd has authentication disabled`,
        EXIT.REFUSED,
      );
    }
    const { toConcordError } = await import('../etcd/translate.js');
    const translated = toConcordError(err, `connecting to ${where}`);
    // An error nobody translated still says where it came from.
    throw translated === err
      ? new ExitError(`connecting to ${where}: ${errorText(err)}`, EXIT.FAILURE)
      : translated;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Closes the Concord (releasing locks, revoking leases), waiting at most `ms`: an etcd that does
 * not answer must not keep the tool from exiting; whatever was not released expires with its
 * lease. Resolves to whether the close finished in time.
 */
export function closeWithin(concord: Concord, ms: number): Promise<boolean> {
  return settleWithin(concord.close(), ms);
}

/** Resolves to true once `promise` settles (either way), or to false after `ms`. Never rejects. */
export async function settleWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = promise.then(
    () => true,
    () => true,
  );
  const finished = await Promise.race([settled, late]);
  clearTimeout(timer);
  return finished;
}
