/**
 * Request classification: compiled once per applied config into flat matcher records, so a
 * request costs a few string compares. First class with a matching matcher wins; a class with
 * no matchers (the default class, always last) matches everything. The query string is parsed
 * only if some matcher uses it, and then at most once per request, when first needed.
 * Paths arrive normalised (http1/target.ts); the policy's pathMatching says how the app compares
 * them: case-insensitively (matchers lower-cased here, the request path once per request) and
 * ignoring a trailing slash (stripped from matchers here, from the request path once).
 * explain() (for `spillway explain`, never on the request path) walks the same records in the
 * same order and says why each earlier matcher failed.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { DEFAULT_PATH_MATCHING, type CompiledMatch, type CompiledPathMatching } from '../api/config.js';
import { ascii } from './http1/chars.js';
import { Head } from './http1/head.js';

interface Matcher {
  method: string | null;
  path: string | null;
  pathPrefix: string | null;
  /** With trailingSlash Ignore, a prefix ending in "/" without it (`/api/` also takes `/api`); else null. */
  prefixBare: string | null;
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
  private readonly foldCase: boolean;
  private readonly ignoreSlash: boolean;

  constructor(classes: ReadonlyArray<{ readonly match: readonly CompiledMatch[] }>, pathMatching: CompiledPathMatching = DEFAULT_PATH_MATCHING) {
    this.foldCase = !pathMatching.caseSensitive;
    this.ignoreSlash = pathMatching.trailingSlash === 'Ignore';
    this.matchers = classes.map((c) => c.match.map((m) => compileMatcher(m, this.foldCase, this.ignoreSlash)));
    const all = this.matchers.flat();
    this.usesPath = all.some((m) => m.path !== null || m.pathPrefix !== null);
  }

  /** The request path as the matchers compare it: without the query, folded as the policy says. */
  private comparedPath(url: string, q: number): string {
    let path = q >= 0 ? url.slice(0, q) : url;
    if (this.foldCase) path = path.toLowerCase();
    if (this.ignoreSlash && path.length > 1 && path.charCodeAt(path.length - 1) === 0x2f) path = path.slice(0, -1);
    return path;
  }

  /**
   * Index of the class the request belongs to; classes.length if none matches (no default).
   * `headers`: the engine's raw request head (the data path), or a header object.
   */
  classify(method: string, url: string, headers: Head | IncomingHttpHeaders, websocket: boolean): number {
    const q = url.indexOf('?');
    const path = this.usesPath ? this.comparedPath(url, q) : url;
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
        if (m.pathPrefix !== null && !path.startsWith(m.pathPrefix) && path !== m.prefixBare) continue;
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

  /**
   * What classify() decides and why: the winning class and matcher, and for every matcher of
   * the classes before it the first field that failed (checked in classify()'s order). Not for
   * the request path: it allocates freely.
   */
  explain(method: string, url: string, headers: IncomingHttpHeaders, websocket: boolean): Explanation {
    const q = url.indexOf('?');
    const path = this.comparedPath(url, q);
    const query = parseQuery(url, q);
    const misses: MatcherMiss[] = [];
    const classes = this.matchers;
    for (let i = 0; i < classes.length; i++) {
      const ms = classes[i];
      if (ms.length === 0) return { index: i, matcher: null, misses };
      for (let j = 0; j < ms.length; j++) {
        const miss = firstMiss(ms[j], method, path, headers, query, websocket);
        if (miss === null) return { index: i, matcher: j, misses };
        misses.push({ class: i, matcher: j, ...miss });
      }
    }
    return { index: classes.length, matcher: null, misses };
  }
}

/** The field of a matcher that failed first, in classify()'s order. */
export type MissField = 'method' | 'websocket' | 'path' | 'pathPrefix' | 'headers' | 'headersPresent' | 'query';

export interface MatcherMiss {
  class: number;
  matcher: number;
  field: MissField;
  /** The header or query parameter at fault (lower-cased header name); null for the other fields. */
  name: string | null;
  /** What the matcher wants: a value, a path, a prefix; null for headersPresent (presence only). */
  want: string | boolean | null;
  /** What the request has there (a path as compared: case-folded, trailing slash dropped, as pathMatching says); null when it has nothing (an absent header or parameter). */
  got: string | boolean | null;
}

export interface Explanation {
  /** As classify() returns it: classes.length when nothing matches (no default class). */
  index: number;
  /** Index of the winning matcher in its class; null for a class without matchers (the default). */
  matcher: number | null;
  /** Every matcher tried before the winner, in order, with why it failed. */
  misses: MatcherMiss[];
}

function headerText(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  return Array.isArray(v) ? v.join(', ') : v;
}

function firstMiss(
  m: Matcher,
  method: string,
  path: string,
  headers: IncomingHttpHeaders,
  query: Query,
  websocket: boolean,
): Omit<MatcherMiss, 'class' | 'matcher'> | null {
  if (m.method !== null && m.method !== method) return { field: 'method', name: null, want: m.method, got: method };
  if (m.websocket !== null && m.websocket !== websocket) return { field: 'websocket', name: null, want: m.websocket, got: websocket };
  if (m.path !== null && m.path !== path) return { field: 'path', name: null, want: m.path, got: path };
  if (m.pathPrefix !== null && !path.startsWith(m.pathPrefix) && path !== m.prefixBare) return { field: 'pathPrefix', name: null, want: m.pathPrefix, got: path };
  for (const [name, want] of m.headers) {
    if (!headersEqual([[name, want]], headers)) return { field: 'headers', name, want, got: headerText(headers[name]) };
  }
  for (const name of m.headersPresent) {
    if (headers[name] === undefined) return { field: 'headersPresent', name, want: null, got: null };
  }
  for (const [name, want] of m.query) {
    if (query[name] !== want) return { field: 'query', name, want, got: query[name] ?? null };
  }
  return null;
}

function compileMatcher(m: CompiledMatch, foldCase: boolean, ignoreSlash: boolean): Matcher {
  const headers = Object.entries(m.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const);
  const headersPresent = (m.headersPresent ?? []).map((h) => h.toLowerCase());
  const fold = (p: string): string => (foldCase ? p.toLowerCase() : p);
  const trimmed = (p: string): string => (ignoreSlash && p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p);
  const prefix = m.pathPrefix === undefined ? null : fold(m.pathPrefix);
  return {
    method: m.method ?? null,
    path: m.path === undefined ? null : trimmed(fold(m.path)),
    pathPrefix: prefix,
    prefixBare: prefix !== null && trimmed(prefix) !== prefix ? trimmed(prefix) : null,
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
