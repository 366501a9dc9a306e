/** The engine's parsers on their own: request and response heads, the chunked scanner at every split point, the rewritten heads. */
import { ChunkedDecoder } from '../../sidecar/http1/chunked.js';
import { BODY_CHUNKED, BODY_CLOSE, BODY_LENGTH, BODY_NONE, RequestHead, ResponseHead } from '../../sidecar/http1/head.js';
import { clientResponseHead, upstreamRequestHead } from '../../sidecar/http1/rewrite.js';

const LIMITS = { maxHeaderCount: 10 };
const b = (s: string) => Buffer.from(s, 'latin1');

function request(s: string): { code: number; h: RequestHead } {
  const buf = b(s);
  const h = new RequestHead();
  return { code: h.parse(buf, 0, buf.length, LIMITS), h };
}

describe('RequestHead', () => {
  it('reads the fields the pipeline needs', () => {
    const { code, h } = request('POST /p?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\nConnection: close, X-A\r\nExpect: 100-Continue\r\nx-a: 1\r\n\r\n');
    expect(code).toBe(0);
    expect([h.method, h.target, h.minor, h.bodyKind, h.contentLength, h.keepAlive, h.expectContinue, h.named]).toEqual(['POST', '/p?q=1', 1, BODY_LENGTH, 12, false, true, ['x-a']]);
    expect(h.fieldCount).toBe(5);
    expect(h.hasValue(b('x-a'), '1')).toBe(true);
    expect(h.hasValue(b('x-a'), '2')).toBe(false);
    expect(h.has(b('expect'))).toBe(true);
  });

  it('value(): the first value of a field, names case-insensitive, OWS trimmed (the fairness flow key)', () => {
    const { h } = request('GET / HTTP/1.1\r\nHost: a\r\nX-Tenant:   acme  \r\nx-tenant: other\r\n\r\n');
    expect(h.value(b('x-tenant'))).toBe('acme');
    expect(h.value(b('x-missing'))).toBeNull();
    expect(request('GET / HTTP/1.1\r\nHost: a\r\nx-tenant:\r\n\r\n').h.value(b('x-tenant'))).toBe('');
  });

  it('upgrade only with Connection: upgrade, an Upgrade field and no body', () => {
    expect(request('GET / HTTP/1.1\r\nhost: a\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n').h.upgrade).toBe(true);
    expect(request('GET / HTTP/1.1\r\nhost: a\r\nupgrade: websocket\r\n\r\n').h.upgrade).toBe(false);
    expect(request('POST / HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: h2c\r\ncontent-length: 1\r\n\r\n').h.upgrade).toBe(false);
  });

  it('HTTP/1.0 keep-alive only when asked; chunked and Content-Length: 0', () => {
    expect(request('GET / HTTP/1.0\r\n\r\n').h.keepAlive).toBe(false);
    expect(request('GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n').h.keepAlive).toBe(true);
    expect(request('POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: gzip,chunked\r\n\r\n').h.bodyKind).toBe(BODY_CHUNKED);
    expect(request('POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\n\r\n').h.bodyKind).toBe(BODY_NONE);
  });

  it.each([
    ['GET / HTTP/1.1\r\nhost: a\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nhost: a\r\ncontent-length: 01\r\ncontent-length: 1\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked, identity\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nhost: a\r\nx: a\x00b\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nhost: a\r\n x: folded\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nhost : a\r\n\r\n', 400],
    ['GET /# HTTP/1.1\r\nhost: a\r\n\r\n', 400],
    ['GET / HTTP/3.0\r\nhost: a\r\n\r\n', 505],
    ['CONNECT h:1 HTTP/1.1\r\nhost: h:1\r\n\r\n', 501],
    [`GET / HTTP/1.1\r\nhost: a\r\n${'x: 1\r\n'.repeat(10)}\r\n`, 431],
  ])('%j → %i', (s, code) => {
    expect(request(s).code).toBe(code);
  });
});

describe('ResponseHead', () => {
  const parse = (s: string, head = false) => {
    const buf = b(s);
    const r = new ResponseHead();
    return { code: r.parse(buf, 0, buf.length, head, LIMITS), r };
  };
  it('framing by RFC 9112 §6.3', () => {
    expect(parse('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n').r.bodyKind).toBe(BODY_LENGTH);
    expect(parse('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n', true).r.bodyKind).toBe(BODY_NONE);
    expect(parse('HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n\r\n').r.bodyKind).toBe(BODY_NONE);
    expect(parse('HTTP/1.1 304 Not Modified\r\ntransfer-encoding: chunked\r\n\r\n').r.bodyKind).toBe(BODY_NONE);
    expect(parse('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n').r.bodyKind).toBe(BODY_CHUNKED);
    const close = parse('HTTP/1.1 200 OK\r\n\r\n').r;
    expect([close.bodyKind, close.keepAlive]).toEqual([BODY_CLOSE, false]);
    expect(parse('HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n').r.keepAlive).toBe(false);
    expect(parse('HTTP/1.1 200\r\ncontent-length: 1\r\n\r\n').code).toBe(0);
  });
  it.each(['HTTP/1.1 2000 OK\r\n\r\n', 'HTTP/2 200 OK\r\n\r\n', 'HTTP/1.1 200 OK\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n', 'HTTP/1.1 200 OK\r\nx:\x01\r\n\r\n', 'HTTP/1.1 099 X\r\n\r\n'])('%j → 502', (s) => {
    expect(parse(s).code).toBe(502);
  });
});

describe('ChunkedDecoder', () => {
  const body = '5;a=b\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-t: 1\r\n\r\n';
  it('finds the end at every split point, and only there', () => {
    const all = b(body + 'NEXT');
    for (let cut = 0; cut <= all.length; cut++) {
      const d = new ChunkedDecoder(1024);
      const first = d.feed(all, 0, cut);
      const end = d.done ? first : d.feed(all, cut, all.length);
      expect(end).toBe(body.length);
    }
  });
  it('takes the data out for HTTP/1.0 clients', () => {
    let data = '';
    const d = new ChunkedDecoder(1024, { chunkData: (x, s, e) => (data += x.toString('latin1', s, e)) });
    d.feed(b(body), 0, body.length);
    expect(data).toBe('helloabcdefghijklmnopqrstuvwxyz');
  });
  it.each(['x\r\n', '5 \r\n', '5\n', '5;\x01\r\n', '1\r\nab', '1\r\na\n', 'ffffffffffffff\r\n', '0\r\nbad\r\n\r\n', '0\r\nx: \x00\r\n\r\n'])('%j is invalid', (s) => {
    expect(new ChunkedDecoder(1024).feed(b(s), 0, s.length)).toBe(-1);
  });
  it('refuses trailers over the limit', () => {
    const s = `0\r\nx: ${'a'.repeat(100)}\r\n\r\n`;
    expect(new ChunkedDecoder(50).feed(b(s), 0, s.length)).toBe(-1);
  });
});

describe('rewritten heads', () => {
  it('request: hop-by-hop, Connection-named and x-spillway-* dropped, runs of the rest copied', () => {
    const { h } = request('GET /x HTTP/1.1\r\nhost: a\r\nx-1: 1\r\nconnection: x-2\r\nx-2: 2\r\nx-spillway-class: vip\r\nx-3: 3\r\nx-forwarded-for: 9.9.9.9\r\n\r\n');
    expect(upstreamRequestHead(h, { clientAddress: '10.0.0.1', className: 'c', loadLevel: 2, defaultHost: 'up:1' }).toString('latin1')).toBe(
      'GET /x HTTP/1.1\r\nhost: a\r\nx-1: 1\r\nx-3: 3\r\nx-forwarded-for: 9.9.9.9, 10.0.0.1\r\nx-forwarded-proto: http\r\nx-spillway-class: c\r\nx-spillway-load-level: 2\r\n\r\n',
    );
  });
  it('response: status kept, hop-by-hop dropped, the connection field added', () => {
    const buf = b('HTTP/1.0 404 Nope\r\nkeep-alive: 1\r\nx-a: 1\r\ncontent-length: 0\r\n\r\n');
    const r = new ResponseHead();
    r.parse(buf, 0, buf.length, false, LIMITS);
    expect(clientResponseHead(r, false, 'connection: close\r\n').toString('latin1')).toBe('HTTP/1.1 404 Nope\r\nx-a: 1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
  });
});
