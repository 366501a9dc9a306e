/**
 * The one log format of both processes: one JSON object per line on stderr, so a log pipeline
 * parses every field. Each line starts with `time` (ISO 8601), `level`, `component` and `msg`,
 * then the event's fields; an Error in a field (by convention `err`) becomes
 * `{ type, message, stack, code?, cause?, errors? }`. Meant for state changes and config events,
 * never for the request hot path. Dependency-free: pino's speed is not needed at this volume.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /**
   * A logger that adds `fields` to every line. A `component` is appended to the parent's with a
   * dot (`operator` → `operator.reconcile`), so one prefix selects a whole process.
   */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where each line goes (with its trailing newline); stderr by default. */
  write?: (line: string) => void;
  fields?: LogFields;
}

export interface SerializedError {
  type: string;
  message: string;
  stack?: string;
  code?: string | number;
  cause?: SerializedError;
  /** An AggregateError's parts (Node's connect errors to several addresses are one). */
  errors?: SerializedError[];
}

/** Bounds on what one error may add to a line: a cause cycle or a huge AggregateError. */
const MAX_CAUSE_DEPTH = 5;
const MAX_AGGREGATED = 5;
/** Keys a line always has, first and in this order; event fields cannot overwrite them. */
const RESERVED = new Set(['time', 'level', 'component', 'msg']);

/** Any thrown value as the `err` object of a line; only Errors have a type and stack. */
export function serializeError(value: unknown, depth = 0): SerializedError {
  if (!(value instanceof Error)) {
    const message = typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string' ? (value as { message: string }).message : String(value);
    return { type: value === null ? 'null' : typeof value, message };
  }
  const out: SerializedError = { type: errorType(value), message: value.message };
  if (value.stack !== undefined) out.stack = value.stack;
  const code = (value as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') out.code = code;
  if (depth < MAX_CAUSE_DEPTH) {
    if (value.cause !== undefined) out.cause = serializeError(value.cause, depth + 1);
    if (value instanceof AggregateError && Array.isArray(value.errors)) {
      out.errors = value.errors.slice(0, MAX_AGGREGATED).map((e: unknown) => serializeError(e, depth + 1));
    }
  }
  return out;
}

function errorType(err: Error): string {
  const ctor = err.constructor?.name;
  return ctor && ctor !== 'Error' && ctor !== 'Object' ? ctor : err.name;
}

/** `err` is always an object with a message: a thrown string or number is wrapped, an already serialised error kept. */
function errField(v: unknown): unknown {
  if (v === undefined || v instanceof Error) return v;
  if (typeof v === 'object' && v !== null && typeof (v as { message?: unknown }).message === 'string') return v;
  return serializeError(v);
}

/** JSON.stringify turns Errors into `{}` and throws on bigints. */
function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return serializeError(value);
  if (typeof value === 'bigint') return value.toString();
  return value;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const min = LOG_LEVELS.indexOf(level);
  const write = options.write ?? ((line: string) => void process.stderr.write(line));
  const base = options.fields ?? {};

  const log = (lineLevel: LogLevel, msg: string, fields?: LogFields): void => {
    if (LOG_LEVELS.indexOf(lineLevel) < min) return;
    const line: LogFields = { time: new Date().toISOString(), level: lineLevel, component: base.component, msg };
    for (const source of [base, fields]) {
      if (source) for (const [k, v] of Object.entries(source)) if (!RESERVED.has(k)) line[k] = k === 'err' ? errField(v) : v;
    }
    let text: string;
    try {
      text = JSON.stringify(line, replacer);
    } catch (err) {
      // A cyclic field must not take the process down: keep the line, say why its fields are missing.
      text = JSON.stringify({ time: line.time, level: lineLevel, component: base.component, msg, logError: serializeError(err).message });
    }
    write(text + '\n');
  };

  return {
    debug: (msg, fields) => log('debug', msg, fields),
    info: (msg, fields) => log('info', msg, fields),
    warn: (msg, fields) => log('warn', msg, fields),
    error: (msg, fields) => log('error', msg, fields),
    child: (fields) => {
      const merged: LogFields = { ...base, ...fields };
      if (typeof base.component === 'string' && typeof fields.component === 'string') merged.component = `${base.component}.${fields.component}`;
      return createLogger({ level, write, fields: merged });
    },
  };
}

const ignore = (): void => {};
/** Discards every line: the default of modules whose caller (often a test) passes no logger. */
export const silentLogger: Logger = { debug: ignore, info: ignore, warn: ignore, error: ignore, child: () => silentLogger };
