/** The three client patch formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge. */
import { badRequest, ApiError } from './errors.js';

type Json = unknown;
type JsonObject = Record<string, unknown>;

const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);

export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw badRequest(`invalid JSON pointer ${path}`);
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: Json, tokens: string[], op: string): { parent: JsonObject | Json[]; key: string } {
  let cur = doc;
  for (const t of tokens.slice(0, -1)) {
    cur = Array.isArray(cur) ? cur[Number(t)] : isObject(cur) ? cur[t] : undefined;
    if (cur === undefined) throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: ${op} operation does not apply: doc is missing path: /${tokens.join('/')}`);
  }
  if (!Array.isArray(cur) && !isObject(cur)) throw badRequest(`${op}: /${tokens.join('/')} has no container`);
  return { parent: cur, key: tokens[tokens.length - 1] };
}

function getAt(doc: Json, tokens: string[]): Json {
  let cur = doc;
  for (const t of tokens) cur = Array.isArray(cur) ? cur[Number(t)] : isObject(cur) ? cur[t] : undefined;
  return cur;
}

function removeAt(doc: Json, tokens: string[]): Json {
  const { parent, key } = parentOf(doc, tokens, 'remove');
  if (Array.isArray(parent)) {
    const i = Number(key);
    if (!(i >= 0 && i < parent.length)) throw new ApiError(422, 'Invalid', `remove operation does not apply: doc is missing path: /${tokens.join('/')}`);
    return parent.splice(i, 1)[0];
  }
  if (!(key in parent)) throw new ApiError(422, 'Invalid', `remove operation does not apply: doc is missing path: /${tokens.join('/')}`);
  const v = parent[key];
  delete parent[key];
  return v;
}

function addAt(doc: Json, tokens: string[], value: Json, replace: boolean): Json {
  if (tokens.length === 0) return value;
  const { parent, key } = parentOf(doc, tokens, replace ? 'replace' : 'add');
  if (Array.isArray(parent)) {
    const i = key === '-' ? parent.length : Number(key);
    if (!(i >= 0 && i <= parent.length)) throw badRequest(`index out of range: /${tokens.join('/')}`);
    if (replace) parent[i] = value;
    else parent.splice(i, 0, value);
  } else {
    if (replace && !(key in parent)) throw new ApiError(422, 'Invalid', `replace operation does not apply: doc is missing key: /${tokens.join('/')}`);
    parent[key] = value;
  }
  return doc;
}

interface Operation {
  op: string;
  path: string;
  from?: string;
  value?: Json;
}

export function jsonPatch(target: Json, ops: unknown): Json {
  if (!Array.isArray(ops)) throw badRequest('a JSON patch must be an array of operations');
  let doc = structuredClone(target);
  for (const o of ops as Operation[]) {
    const path = pointer(o.path);
    switch (o.op) {
      case 'add':
        doc = addAt(doc, path, structuredClone(o.value), false);
        break;
      case 'replace':
        doc = addAt(doc, path, structuredClone(o.value), true);
        break;
      case 'remove':
        removeAt(doc, path);
        break;
      case 'move':
        doc = addAt(doc, path, removeAt(doc, pointer(o.from ?? '')), false);
        break;
      case 'copy':
        doc = addAt(doc, path, structuredClone(getAt(doc, pointer(o.from ?? ''))), false);
        break;
      case 'test':
        if (JSON.stringify(getAt(doc, path)) !== JSON.stringify(o.value)) throw new ApiError(422, 'Invalid', `testing value /${path.join('/')} failed`);
        break;
      default:
        throw badRequest(`unknown JSON patch operation ${String(o.op)}`);
    }
  }
  return doc;
}

/** Merge keys of the built-in lists kubectl's strategic patches touch (containers, env, ports, volumes...). */
const MERGE_KEYS = ['name', 'containerPort', 'mountPath', 'devicePath', 'ip', 'type', 'topologyKey'];

function mergeKeyOf(items: unknown[]): string | undefined {
  if (items.length === 0 || !items.every(isObject)) return undefined;
  return MERGE_KEYS.find((k) => (items as JsonObject[]).every((i) => k in i));
}

/**
 * Strategic merge patch, enough for kubectl's apply/edit/patch of built-ins: lists of objects
 * merge by their merge key, `$patch: delete|replace` and `$setElementOrder`/`$retainKeys`
 * directives are honoured or dropped. On custom resources it is a merge patch.
 */
export function strategicMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  if (patch.$patch === 'replace') {
    const rest = { ...patch };
    delete rest.$patch;
    return rest;
  }
  if (patch.$patch === 'delete') return undefined;
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$setElementOrder/') || k === '$retainKeys' || k === '$patch') continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(out[field]) && Array.isArray(v)) out[field] = (out[field] as unknown[]).filter((e) => !v.includes(e));
      continue;
    }
    if (v === null) delete out[k];
    else if (Array.isArray(v) && Array.isArray(out[k])) out[k] = mergeList(out[k] as unknown[], v);
    else {
      const merged = strategicMergePatch(out[k], v);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    }
  }
  return out;
}

function mergeList(current: unknown[], patch: unknown[]): unknown[] {
  const key = mergeKeyOf(patch);
  if (!key) return structuredClone(patch);
  const out = [...current];
  for (const p of patch as JsonObject[]) {
    const i = out.findIndex((c) => isObject(c) && c[key] === p[key]);
    if (p.$patch === 'delete') {
      if (i >= 0) out.splice(i, 1);
    } else if (i >= 0) out[i] = strategicMergePatch(out[i], p);
    else out.push(strategicMergePatch(undefined, p));
  }
  return out;
}
