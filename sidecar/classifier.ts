/**
 * Request classification: compiled once per applied config into flat matcher records, so a
 * request costs a few string compares. First class with a matching matcher wins; a class with
 * no matchers (the default class, always last) matches everything. The query string is parsed
 * only if some matcher uses it, and then at most once per request, when first needed.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { CompiledMatch } from '../api/config.js';
import { ascii } from './http1/chars.js';
import { Head } from './http1/head.js';

interface Matcher {
  method: string | null;
  path: string | null;
  pathPrefix: string | null;
  /** [lower-cased name, exact value] pairs. */
  headers: ReadonlyArray<readonly [string, string]>;
  headersPresent: readonly string[];
  /** The same names as lower-case bytes, for a raw request head. */
  headerBytes: readonly Uint8Array[];
  presentBytes: readonly Uint8Array[];
  query: ReadonlyArray<readonly [string, string]>;
  websocket: boolean | null;
}

type Query = Record<string, string>;

export class Classifier {
  /** matchers[i]: the matchers of class i; an empty list matches everything. */
  private readonly matchers: readonly (readonly Matcher[])[];
  private readonly usesPath: boolean;

  constructor(classes: ReadonlyArray<{ readonly match: readonly CompiledMatch[] }>) {
    this.matchers = classes.map((c) => c.match.map(compileMatcher));
    const all = this.matchers.flat();
    this.usesPath = all.some((m) => m.path !== null || m.pathPrefix !== null);
  }

  /**
   * Index of the class the request belongs to; classes.length if none matches (no default).
   * `headers`: the engine's raw request head (the data path), or a header object.
   */
  classify(method: string, url: string, headers: Head | IncomingHttpHeaders, websocket: boolean): number {
    const q = url.indexOf('?');
    const path = this.usesPath && q >= 0 ? url.slice(0, q) : url;
    let query: Query | null = null;
    const classes = this.matchers;
    for (let i = 0; i < classes.length; i++) {
      const ms = classes[i];
      if (ms.length === 0) return i;
      for (let j = 0; j < ms.length; j++) {
        const m = ms[j];
        if (m.method !== null && m.method !== method) continue;
        if (m.websocket !== null && m.websocket !== websocket) continue;
        if (m.path !== null && m.path !== path) continue;
        if (m.pathPrefix !== null && !path.startsWith(m.pathPrefix)) continue;
        if (m.headers.length > 0 && !(headers instanceof Head ? rawHeadersEqual(m, headers) : headersEqual(m.headers, headers))) continue;
        if (m.headersPresent.length > 0 && !(headers instanceof Head ? rawHeadersPresent(m, headers) : headersPresent(m.headersPresent, headers))) continue;
        if (m.query.length > 0) {
          if (query === null) query = parseQuery(url, q);
          if (!queryEqual(m.query, query)) continue;
        }
        return i;
      }
    }
    return classes.length;
  }
}

function compileMatcher(m: CompiledMatch): Matcher {
  const headers = Object.entries(m.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const);
  const headersPresent = (m.headersPresent ?? []).map((h) => h.toLowerCase());
  return {
    method: m.method ?? null,
    path: m.path ?? null,
    pathPrefix: m.pathPrefix ?? null,
    headers,
    headersPresent,
    headerBytes: headers.map(([k]) => ascii(k)),
    presentBytes: headersPresent.map(ascii),
    query: Object.entries(m.query ?? {}),
    websocket: m.websocket ?? null,
  };
}

function headersEqual(want: ReadonlyArray<readonly [string, string]>, headers: IncomingHttpHeaders): boolean {
  for (let i = 0; i < want.length; i++) {
    const v = headers[want[i][0]];
    if (v === want[i][1]) continue;
    if (Array.isArray(v) && v.includes(want[i][1])) continue;
    return false;
  }
  return true;
}

/** On a raw head: any field of the name with exactly the value (a repeated field matches on any of its lines). */
function rawHeadersEqual(m: Matcher, head: Head): boolean {
  for (let i = 0; i < m.headers.length; i++) if (!head.hasValue(m.headerBytes[i], m.headers[i][1])) return false;
  return true;
}

function rawHeadersPresent(m: Matcher, head: Head): boolean {
  for (let i = 0; i < m.presentBytes.length; i++) if (!head.has(m.presentBytes[i])) return false;
  return true;
}

function headersPresent(names: readonly string[], headers: IncomingHttpHeaders): boolean {
  for (let i = 0; i < names.length; i++) if (headers[names[i]] === undefined) return false;
  return true;
}

function queryEqual(want: ReadonlyArray<readonly [string, string]>, query: Query): boolean {
  for (let i = 0; i < want.length; i++) if (query[want[i][0]] !== want[i][1]) return false;
  return true;
}

/** First value of each parameter, form-decoded ("+" is a space). Malformed escapes are kept as they are. */
export function parseQuery(url: string, q: number = url.indexOf('?')): Query {
  const out: Query = Object.create(null) as Query;
  if (q < 0) return out;
  let start = q + 1;
  const end = url.length;
  while (start <= end) {
    let amp = url.indexOf('&', start);
    if (amp < 0) amp = end;
    if (amp > start) {
      const eq = url.indexOf('=', start);
      const hasValue = eq >= 0 && eq < amp;
      const key = decode(url.slice(start, hasValue ? eq : amp));
      if (!(key in out)) out[key] = hasValue ? decode(url.slice(eq + 1, amp)) : '';
    }
    start = amp + 1;
  }
  return out;
}

function decode(s: string): string {
  if (s.indexOf('%') < 0 && s.indexOf('+') < 0) return s;
  try {
    return decodeURIComponent(s.replaceAll('+', ' '));
  } catch {
    return s;
  }
}
