/**
 * A structured logger concord writes to. Any of the methods may be omitted. Concord never
 * passes credentials, tokens or key material to it.
 */
export interface Logger {
  debug?(message: string, fields?: Record<string, unknown>): void;
  info?(message: string, fields?: Record<string, unknown>): void;
  warn?(message: string, fields?: Record<string, unknown>): void;
  error?(message: string, fields?: Record<string, unknown>): void;
}

type Level = 'debug' | 'info' | 'warn' | 'error';

const SECRET_FIELD = /pass|secret|token|key|cert|credential|auth/i;

/**
 * Wraps the user's logger so that nothing secret leaves concord: fields whose names look
 * secret are replaced, and the configured secrets are masked wherever they appear in text.
 */
export class Log {
  constructor(
    private readonly target: Logger | undefined,
    private readonly secrets: readonly string[],
  ) {}

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
    try {
      method.call(this.target, this.mask(message), fields && this.scrub(fields));
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
