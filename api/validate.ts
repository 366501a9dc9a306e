/**
 * Turning zod errors into the one-line messages users see in `kubectl describe`, the
 * operator's events and the sidecar's log: each names the field at fault.
 */
import { isMap, isScalar, parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { CompiledConfig } from './config.js';
import { API_VERSION, GROUP, KIND, TrafficPolicy, TrafficPolicySpec } from './policy.js';

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

/** Each problem of a policy as `field.path: message` (the operator joins the same with "; "). */
export function policyProblems(input: unknown): string[] {
  const r = TrafficPolicy.safeParse(input);
  if (r.success) return [];
  return r.error.issues.flatMap((i) => {
    // As the API server's strict field validation says it: the unknown field's own path.
    if (i.code === 'unrecognized_keys') return i.keys.map((k) => `${formatPath([...i.path, k])}: unknown field`);
    const at = formatPath(i.path);
    return [at ? `${at}: ${i.message}` : i.message];
  });
}

/** The verdict on one YAML document of a manifest file. */
export interface DocumentVerdict {
  /** 1-based position in the file. */
  index: number;
  /** `TrafficPolicy namespace/name` when it is one, else what it is (`apps/v1 Deployment`, `YAML`). */
  what: string;
  /** Not a TrafficPolicy: not ours to judge (a manifest may hold the Deployment next to it). */
  skipped: boolean;
  problems: string[];
  /** The parsed policy (defaults filled) when it is a TrafficPolicy without problems. */
  policy?: TrafficPolicy;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * Checks every TrafficPolicy in a multi-document YAML text by the operator's rules (the zod
 * schema and its refinements, which mirror the CRD's schema and CEL rules). Other kinds are
 * skipped; a document that is not valid YAML is a problem. Pure: the caller reads the file.
 */
export function validateManifests(text: string): DocumentVerdict[] {
  const out: DocumentVerdict[] = [];
  // maxAliasCount bounds alias expansion (a "billion laughs" document); duplicate keys are errors.
  parseAllDocuments(text, { uniqueKeys: true, prettyErrors: false }).forEach((doc, i) => {
    const index = i + 1;
    if (doc.errors.length > 0) {
      out.push({ index, what: 'YAML', skipped: false, problems: doc.errors.map((e) => e.message.split('\n')[0]) });
      return;
    }
    // An empty document (a trailing ---, or only comments).
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) return;
    if (!isMap(doc.contents)) {
      out.push({ index, what: 'YAML', skipped: false, problems: ['a manifest document must be a mapping (apiVersion, kind, metadata, spec)'] });
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      out.push({ index, what: 'YAML', skipped: false, problems: [err instanceof Error ? err.message : String(err)] });
      return;
    }
    const o = value as Record<string, unknown>;
    const apiVersion = str(o.apiVersion);
    const kind = str(o.kind);
    const ours = kind === KIND && (apiVersion === undefined || apiVersion.split('/')[0] === GROUP);
    if (!ours) {
      out.push({ index, what: [apiVersion, kind ?? '(no kind)'].filter(Boolean).join(' '), skipped: true, problems: [] });
      return;
    }
    const meta = (o.metadata ?? {}) as Record<string, unknown>;
    const name = `${str(meta.namespace) ?? '(default namespace)'}/${str(meta.name) ?? '(no name)'}`;
    const problems = apiVersion === undefined || apiVersion === API_VERSION ? policyProblems(value) : [`apiVersion: "${apiVersion}" is not served; use ${API_VERSION}`];
    const parsed = problems.length === 0 ? TrafficPolicy.safeParse(value) : null;
    out.push({ index, what: `${KIND} ${name}`, skipped: false, problems, ...(parsed?.success ? { policy: parsed.data } : {}) });
  });
  return out;
}
