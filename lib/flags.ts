/**
 * Command-line flags with an environment fallback, shared by both processes: a table of flags
 * (env variable, default, help), parsing where the flag wins over its variable and an empty
 * value counts as unset, the usage lines, and validators whose errors name the flag (passed as
 * written, `--listen`). Pure:
 * argv and env in, values out, UsageError (the CLI exits 2 with its message) on anything else.
 */
import { parseArgs } from 'node:util';

export class UsageError extends Error {}

export interface FlagSpec {
  /** The environment variable read when the flag is not given. */
  env: string;
  /** The default as the usage text shows it ('': none). */
  def: string;
  help: string;
  /** A switch: given, or its variable `true` (`false` or empty: off). */
  boolean?: true;
  /** May be repeated; the values are joined with commas (split them with list()). */
  multiple?: true;
}

export type FlagTable = Record<string, FlagSpec>;

export interface FlagValues<K extends string> {
  /** The flag's value, else its variable's, else undefined; empty counts as unset. */
  get(name: K): string | undefined;
  /** A switch's state. */
  on(name: K): boolean;
}

/** null: --help (or -h) was asked for. */
export function parseFlagTable<T extends FlagTable>(table: T, argv: string[], env: NodeJS.ProcessEnv): FlagValues<keyof T & string> | null {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    const options = Object.fromEntries(
      Object.entries(table).map(([name, f]) => [name, f.boolean ? { type: 'boolean' as const } : { type: 'string' as const, multiple: f.multiple === true }]),
    );
    values = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (values.help) return null;

  const fromEnv = (name: string): string | undefined => {
    const e = env[table[name].env];
    return e !== undefined && e !== '' ? e : undefined;
  };
  return {
    get(name) {
      const v = values[name];
      const given = Array.isArray(v) ? v.join(',') : v;
      return typeof given === 'string' && given !== '' ? given : fromEnv(name);
    },
    on(name) {
      if (values[name] === true) return true;
      const e = fromEnv(name);
      if (e === undefined || e === 'false') return false;
      if (e === 'true') return true;
      throw new UsageError(`${table[name].env}: "${e}" is not true or false (--${name})`);
    },
  };
}

/** One line per flag: name, variable, help, default; for a usage text. */
export function flagUsage(table: FlagTable): string {
  return Object.entries(table)
    .map(([name, f]) => `  --${name.padEnd(28)} ${f.env.padEnd(36)} ${f.help}${f.def ? ` (default ${f.def})` : ''}`)
    .join('\n');
}

export function integer(flag: string, s: string, min: number, max: number): number {
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${flag}: "${s}" is not an integer in ${min}..${max}`);
  return n;
}

export function port(flag: string, s: string): number {
  return integer(flag, s, 0, 65535);
}

/** A URL of one of `protocols` (e.g. 'http:') with a host; returned as given. */
export function url(flag: string, s: string, protocols: string[]): string {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new UsageError(`${flag}: "${s}" is not a URL`);
  }
  if (!protocols.includes(u.protocol) || u.hostname === '') {
    throw new UsageError(`${flag}: "${s}" must be a ${protocols.map((p) => `${p}//`).join(' or ')} URL with a host`);
  }
  return s;
}

/** Longer would overflow a Node timer (it would fire at once). */
const MAX_DURATION_MS = 24 * 3600_000;

/** Milliseconds from `500ms`, `2s`, `1m` or a bare number of seconds; 0 only if `allowZero`. */
export function duration(flag: string, s: string, options: { allowZero?: boolean } = {}): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(s.trim());
  if (!m) throw new UsageError(`${flag}: "${s}" is not a duration (e.g. 500ms, 2s, 1m)`);
  const n = Number(m[1]);
  const ms = m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
  if (ms === 0 && options.allowZero) return 0;
  if (ms <= 0) throw new UsageError(`${flag}: must be positive`);
  if (ms > MAX_DURATION_MS) throw new UsageError(`${flag}: "${s}" is longer than 24h`);
  return ms;
}

export function oneOf<const V extends string>(flag: string, s: string, values: readonly V[]): V {
  if (!(values as readonly string[]).includes(s)) throw new UsageError(`${flag}: "${s}" is not one of ${values.join(', ')}`);
  return s as V;
}

/** Comma-separated values, trimmed, without empties or repeats. */
export function list(s: string | undefined): string[] {
  return [...new Set((s ?? '').split(',').map((v) => v.trim()).filter((v) => v !== ''))];
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/;

/** A Kubernetes object name: a DNS label (namespaces, Services) or subdomain (most others). */
export function k8sName(flag: string, s: string, kind: 'label' | 'subdomain'): string {
  if (!isK8sName(s, kind)) throw new UsageError(`${flag}: "${s}" is not a Kubernetes name (lowercase DNS ${kind})`);
  return s;
}

export function isK8sName(s: string, kind: 'label' | 'subdomain'): boolean {
  return (kind === 'label' ? DNS_LABEL : DNS_SUBDOMAIN).test(s);
}
