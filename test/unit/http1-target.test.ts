/**
 * The request-target normaliser (sidecar/http1/target.ts): a table of spellings and their normal
 * form or refusal, the engine's use of it (normal targets kept as sent, others rewritten), and
 * fast-check properties: normalising is idempotent and never leaves `//`, a dot segment, an
 * escape of an unreserved byte or lower-case hex.
 */
import fc from 'fast-check';
import { RequestHead } from '../../sidecar/http1/head.js';
import { upstreamRequestHead } from '../../sidecar/http1/rewrite.js';
import { firstAbnormal, normalizeTarget } from '../../sidecar/http1/target.js';

describe('normalizeTarget', () => {
  const cases: Array<[string, string | null]> = [
    // Already normal: as sent.
    ['/', '/'],
    ['/login', '/login'],
    ['/login/', '/login/'],
    ['/LOGIN', '/LOGIN'],
    ['/.well-known/x', '/.well-known/x'],
    ['/a.b/..c/...', '/a.b/..c/...'],
    ['/a?b=//../%zz;\\', '/a?b=//../%zz;\\'],
    ['*', '*'],
    // Runs of slashes.
    ['//login', '/login'],
    ['/a//b///c', '/a/b/c'],
    ['/a//', '/a/'],
    ['//', '/'],
    // Dot segments (RFC 3986 §5.2.4).
    ['/./login', '/login'],
    ['/a/./b', '/a/b'],
    ['/a/b/.', '/a/b/'],
    ['/a/b/..', '/a/'],
    ['/a/../login', '/login'],
    ['/a/b/../../login', '/login'],
    ['/a/./b/../c//d', '/a/c/d'],
    ['/.', '/'],
    ['/a/..', '/'],
    ['/a/..?x=1', '/?x=1'],
    ['/a/./?x=/./', '/a/?x=/./'],
    // Percent-encoding: unreserved decoded (before dot segments), other hex upper-cased.
    ['/%6Cogin', '/login'],
    ['/%6cogin', '/login'],
    ['/%41%7a%30%2D%2e%5F%7E', '/Az0-._~'],
    ['/a/%2e/b', '/a/b'],
    ['/a/%2e%2E/login', '/login'],
    ['/a/.%2e/login', '/login'],
    ['/a%20b%3f%3b%e2%82%ac', '/a%20b%3F%3B%E2%82%AC'],
    ['/x%25y', '/x%25y'],
    ['/x/%2e%2e%2f', null],
    // Refused: above the root, encoded / \ NUL, raw ; \, malformed escapes.
    ['/..', null],
    ['/../login', null],
    ['/a/../../login', null],
    ['/%2e%2e/login', null],
    ['/%2E%2E', null],
    ['/a/%2e%2e/%2e%2e/b', null],
    ['/a%2Fb', null],
    ['/a%2fb', null],
    ['/a%00', null],
    ['/a%5cb', null],
    ['/a\\b', null],
    ['/login;x', null],
    ['/login;jsessionid=1/x', null],
    ['/a%zz', null],
    ['/a%4', null],
    ['/a%4?x', null],
    ['/a%', null],
    ['/a%g0', null],
  ];
  it.each(cases)('%s → %s', (input, want) => {
    expect(normalizeTarget(input)).toBe(want);
  });

  it('leaves a normal target to the fast path (no rebuild)', () => {
    for (const t of ['/', '/login', '/messages/42?x=/../%zz', '/.well-known/acme', '/a-b_c~d.e/f']) expect(firstAbnormal(Buffer.from(t), 0, t.length)).toBe(-1);
    for (const t of ['//a', '/./a', '/a/..', '/%41', '/a;b', '/a\\b']) expect(firstAbnormal(Buffer.from(t), 0, t.length)).toBeGreaterThan(0);
  });
});

describe('RequestHead with normalizeTarget', () => {
  const parse = (target: string, normalizeTarget: boolean) => {
    const buf = Buffer.from(`GET ${target} HTTP/1.1\r\nHost: h\r\n\r\n`, 'latin1');
    const h = new RequestHead();
    return { code: h.parse(buf, 0, buf.length, { maxHeaderCount: 10, normalizeTarget }), h };
  };
  const info = { clientAddress: '10.0.0.1', className: 'c', loadLevel: 0, defaultHost: 'app' };

  it('forwards the normal form, rewriting the request line only when it changed', () => {
    const same = parse('/a/b?c', true);
    expect([same.code, same.h.target, same.h.targetRewritten]).toEqual([0, '/a/b?c', false]);
    const changed = parse('/a/./b/../c//d?x=/./', true);
    expect([changed.code, changed.h.target, changed.h.targetRewritten]).toEqual([0, '/a/c/d?x=/./', true]);
    expect(upstreamRequestHead(changed.h, info).toString('latin1')).toMatch(/^GET \/a\/c\/d\?x=\/\.\/ HTTP\/1\.1\r\nHost: h\r\n/);
  });

  it('normalises the path of an absolute-form target', () => {
    const { code, h } = parse('http://a//x/%2e/login?q', true);
    expect([code, h.target, h.authority]).toEqual([0, '/x/login?q', 'a']);
    expect(parse('http://a/%2e%2e/login', true).code).toBe(400);
  });

  it('refuses an unsafe target with 400; without the option keeps it as sent (the egress)', () => {
    for (const t of ['/%2e%2e/login', '/login;x', '/a%2Fb', '/a\\b', '/%zz']) {
      expect(parse(t, true).code).toBe(400);
      expect(parse(t, false).h.target).toBe(t);
    }
    expect(parse('//x/./y', false).h.targetRewritten).toBe(false);
  });
});

describe('normalizeTarget properties', () => {
  const byte = fc.constantFrom('a', 'B', '.', '/', '%', '2', 'e', 'E', 'f', 'F', '4', '1', '7', 'z', '~', '-', '?', '0', 'c', '3', 'b');
  const target = fc.array(byte, { maxLength: 24 }).map((cs) => '/' + cs.join(''));

  it('is idempotent and yields no //, dot segment, unreserved escape or lower-case hex in the path', () => {
    fc.assert(
      fc.property(target, (t) => {
        const n = normalizeTarget(t);
        if (n === null) return;
        expect(normalizeTarget(n)).toBe(n);
        const q = n.indexOf('?');
        const path = q < 0 ? n : n.slice(0, q);
        expect(path.startsWith('/')).toBe(true);
        expect(path).not.toMatch(/\/\/|\/\.\.?(\/|$)/);
        expect(path).not.toMatch(/%(?:[46][1-9A-Fa-f]|[57][0-9Aa]|3[0-9]|2[DEde]|5[Ff]|7[Ee])/);
        expect(path).not.toMatch(/%[0-9A-F]?[a-f]/);
        // The query is untouched.
        if (q >= 0) expect(n.slice(q)).toBe(t.slice(t.indexOf('?')));
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with a reference: decode unreserved, then RFC 3986 §5.2.4 on merged slashes', () => {
    fc.assert(
      fc.property(target, (t) => {
        expect(normalizeTarget(t)).toBe(reference(t));
      }),
      { numRuns: 2000 },
    );
  });
});

/** A slow, obvious implementation to compare with. */
function reference(t: string): string | null {
  const q = t.indexOf('?');
  const path = q < 0 ? t : t.slice(0, q);
  const query = q < 0 ? '' : t.slice(q);
  if (/[;\\]/.test(path)) return null;
  let decoded = '';
  for (let i = 0; i < path.length; i++) {
    if (path[i] !== '%') {
      decoded += path[i];
      continue;
    }
    const hex = path.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
    const v = parseInt(hex, 16);
    const ch = String.fromCharCode(v);
    if (/[A-Za-z0-9\-._~]/.test(ch)) decoded += ch;
    else if (v === 0x2f || v === 0 || v === 0x5c) return null;
    else decoded += '%' + hex.toUpperCase();
    i += 2;
  }
  const segs = decoded.split('/').slice(1);
  const out: string[] = [];
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i];
    const last = i === segs.length - 1;
    if (s === '.' || s === '..') {
      if (s === '..') {
        if (out.length === 0) return null;
        out.pop();
      }
      if (last) out.push('');
    } else if (s === '' && !last) {
      continue;
    } else out.push(s);
  }
  return '/' + out.join('/') + query;
}
