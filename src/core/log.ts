/**
 * A structured logger concord writes to. Any of the methods may be omitted. Concord never
 * passes credentials, tokens or key material to it.
 *
 * Two calling conventions are supported (see {@link LoggerStyle}): console-style
 * `(message, fields?)` (console, winston, most wrappers) and pino/bunyan-style
 * `(fields, message)`. A line without fields is always a single argument, `(message)`.
 */
export interface Logger {
  debug?(message: string, fields?: Record<string, unknown>): void;
  info?(message: string, fields?: Record<string, unknown>): void;
  warn?(message: string, fields?: Record<string, unknown>): void;
  error?(message: string, fields?: Record<string, unknown>): void;
}

/**
 * How a {@link Logger} takes a line that has fields: `'message-first'` calls
 * `logger.warn(message, fields)` (console, winston), `'fields-first'` calls
 * `logger.warn(fields, message)` (pino, bunyan: they would drop fields passed second).
 */
export type LoggerStyle = 'message-first' | 'fields-first';

/**
 * The style of a logger whose style was not given: `'fields-first'` for pino (recognised by the
 * global `Symbol.for('pino.serializers')` every pino logger and child carries) and bunyan
 * (recognised by its `fields` object and `streams` array), `'message-first'` for anything else.
 */
export function detectLoggerStyle(logger: Logger): LoggerStyle {
  const candidate = logger as Record<PropertyKey, unknown>;
  const pino = Symbol.for('pino.serializers') in candidate;
  const bunyan =
    typeof candidate.fields === 'object' && candidate.fields !== null && Array.isArray(candidate.streams);
  return pino || bunyan ? 'fields-first' : 'message-first';
}

type Level = 'debug' | 'info' | 'warn' | 'error';

const SECRET_FIELD = /pass|secret|token|key|cert|credential|auth/i;

/**
 * Wraps the user's logger so that nothing secret leaves concord: fields whose names look
 * secret are replaced, and the configured secrets are masked wherever they appear in text.
 */
export class Log {
  private readonly style: LoggerStyle;

  constructor(
    private readonly target: Logger | undefined,
    private readonly secrets: readonly string[],
    style?: LoggerStyle,
  ) {
    this.style = style ?? (target ? detectLoggerStyle(target) : 'message-first');
  }

  debug(message: string, fields?: Record<string, unknown>): void {
    this.write('debug', message, fields);
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.write('info', message, fields);
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.write('warn', message, fields);
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.write('error', message, fields);
  }

  private write(level: Level, message: string, fields?: Record<string, unknown>): void {
    const method = this.target?.[level];
    if (!method) return;
    const text = this.mask(message);
    try {
      // No fields, no second argument: console would print it as `undefined`.
      if (fields === undefined) method.call(this.target, text);
      else if (this.style === 'fields-first') Reflect.apply(method, this.target, [this.scrub(fields), text]);
      else method.call(this.target, text, this.scrub(fields));
    } catch {
      // A throwing logger must not break coordination.
    }
  }

  private scrub(fields: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(fields)) {
      if (SECRET_FIELD.test(name) && name !== 'key' && name !== 'leaseId') out[name] = '[redacted]';
      else if (typeof value === 'string') out[name] = this.mask(value);
      else if (value instanceof Error) out[name] = this.mask(value.message);
      else out[name] = value;
    }
    return out;
  }

  private mask(text: string): string {
    let out = text;
    for (const secret of this.secrets) if (secret.length > 0) out = out.split(secret).join('[redacted]');
    return out;
  }
}
