/** Small pure helpers on stored objects. */
import type { KObject } from './store.js';

export const timestamp = (d = new Date()): string => d.toISOString().replace(/\.\d+Z$/, 'Z');

/** Everything but metadata and status: what metadata.generation counts changes of. */
export function specPart(obj: KObject): string {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = obj;
  return JSON.stringify(rest);
}

/** Equal for the purpose of a write (no new resourceVersion, no watch event when nothing changed). */
export function sameContent(a: KObject, b: KObject): boolean {
  const strip = (o: KObject): string => {
    const { resourceVersion: _rv, managedFields, ...meta } = o.metadata;
    const owners = ((managedFields ?? []) as Array<Record<string, unknown>>).map(({ time: _t, ...e }) => e);
    return stableJson({ ...o, metadata: { ...meta, owners } });
  };
  return strip(a) === strip(b);
}

export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

export const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
