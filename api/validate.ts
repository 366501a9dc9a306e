/**
 * Turning zod errors into the one-line messages users see in `kubectl describe`, the
 * operator's events and the sidecar's log: each names the field at fault.
 */
import type { z } from 'zod';
import { CompiledConfig } from './config.js';
import { TrafficPolicy, TrafficPolicySpec } from './policy.js';

export type Result<T> = { ok: true; value: T } | { ok: false; error: string };

/** A key that reads unambiguously after a dot; any other (a header name with spaces, "") is quoted in brackets. */
const PLAIN_KEY = /^[A-Za-z_][\w-]*$/;

export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (!PLAIN_KEY.test(String(p))) out += `[${JSON.stringify(String(p))}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

export function formatIssues(error: z.ZodError, prefix = ''): string {
  return error.issues
    .map((i) => {
      const at = formatPath([...(prefix ? [prefix] : []), ...i.path]);
      return at ? `${at}: ${i.message}` : i.message;
    })
    .join('; ');
}

function parseWith<T>(schema: z.ZodType<T>, input: unknown, prefix: string): Result<T> {
  const r = schema.safeParse(input);
  return r.success ? { ok: true, value: r.data } : { ok: false, error: formatIssues(r.error, prefix) };
}

export function parsePolicy(input: unknown): Result<TrafficPolicy> {
  return parseWith(TrafficPolicy, input, '');
}

export function parseSpec(input: unknown): Result<TrafficPolicySpec> {
  return parseWith(TrafficPolicySpec, input, 'spec');
}

export function parseConfig(input: unknown): Result<CompiledConfig> {
  return parseWith(CompiledConfig, input, '');
}
