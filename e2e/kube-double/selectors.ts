/** labelSelector and fieldSelector query parameters, compiled once per request into predicates. */
import { badRequest } from './errors.js';
import type { KObject } from './store.js';

export type Predicate = (obj: KObject) => boolean;

const always: Predicate = () => true;

/** Splits on commas outside parentheses ("a in (x,y),b" → ["a in (x,y)", "b"]). */
function terms(selector: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

function labelTerm(term: string): (labels: Record<string, string>) => boolean {
  let m = /^(!?)\s*([\w./-]+)$/.exec(term);
  if (m) {
    const [, not, key] = m;
    return (l) => (key in l) !== (not === '!');
  }
  m = /^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/.exec(term);
  if (m) {
    const [, key, op, value] = m;
    return op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value;
  }
  m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
  if (m) {
    const [, key, op, list] = m;
    const values = new Set(list.split(',').map((v) => v.trim()));
    return op === 'in' ? (l) => key in l && values.has(l[key]) : (l) => !(key in l) || !values.has(l[key]);
  }
  throw badRequest(`unable to parse requirement: ${term}`);
}

export function labelSelector(selector: string | null): Predicate {
  if (!selector) return always;
  const checks = terms(selector).map(labelTerm);
  return (obj) => {
    const labels = obj.metadata.labels ?? {};
    return checks.every((c) => c(labels));
  };
}

function fieldValue(obj: KObject, path: string): string {
  let v: unknown = obj;
  for (const step of path.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[step] : undefined;
  return v === undefined || v === null ? '' : String(v);
}

/** Any dotted field path with =, == or != (the real server allows only a few per resource). */
export function fieldSelector(selector: string | null): Predicate {
  if (!selector) return always;
  const checks = terms(selector).map((term) => {
    const m = /^([\w.-]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid field selector: ${term}`);
    const [, path, op, value] = m;
    return op === '!=' ? (o: KObject) => fieldValue(o, path) !== value : (o: KObject) => fieldValue(o, path) === value;
  });
  return (obj) => checks.every((c) => c(obj));
}
