import { clientResponseHeaders, upstreamRequestHeaders } from '../../sidecar/proxy-headers.js';
import { retryAfterSeconds } from '../../sidecar/admission/refusals.js';

const pairs = (a: string[]) => Array.from({ length: a.length / 2 }, (_, i) => `${a[2 * i]}: ${a[2 * i + 1]}`);

describe('proxy headers', () => {
  it('drops hop-by-hop and Connection-named headers, appends x-forwarded-for, sets x-forwarded-proto', () => {
    const raw = ['Host', 'app', 'Connection', 'keep-alive, X-Secret', 'Keep-Alive', 'timeout=5', 'X-Secret', 's', 'TE', 'trailers',
      'X-Forwarded-For', '1.1.1.1', 'x-forwarded-for', '2.2.2.2', 'Content-Length', '3', 'Upgrade', 'h2c', 'Proxy-Authorization', 'x'];
    expect(pairs(upstreamRequestHeaders(raw, '10.0.0.9', null))).toEqual([
      'Host: app',
      'Content-Length: 3',
      'x-forwarded-for: 1.1.1.1, 2.2.2.2, 10.0.0.9',
      'x-forwarded-proto: http',
    ]);
  });

  it('keeps an existing x-forwarded-proto and chunked framing; puts Connection/Upgrade back for upgrades', () => {
    const raw = ['host', 'app', 'x-forwarded-proto', 'https', 'transfer-encoding', 'chunked', 'connection', 'Upgrade', 'upgrade', 'websocket'];
    expect(pairs(upstreamRequestHeaders(raw, '::1', 'websocket'))).toEqual([
      'host: app',
      'x-forwarded-proto: https',
      'transfer-encoding: chunked',
      'x-forwarded-for: ::1',
      'connection: upgrade',
      'upgrade: websocket',
    ]);
  });

  it('drops hop-by-hop and framing headers from responses, keeps repeated ones', () => {
    const raw = ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'Transfer-Encoding', 'chunked', 'Connection', 'close', 'Keep-Alive', 'timeout=1', 'X-App', '1'];
    expect(pairs(clientResponseHeaders(raw))).toEqual(['Set-Cookie: a=1', 'Set-Cookie: b=2', 'X-App: 1']);
  });
});

describe('Retry-After', () => {
  it('is whole seconds ≥ 1, jittered ±50% around 1, 2, 4, 8 s by level', () => {
    const range = (level: number) => [retryAfterSeconds(level, 0), retryAfterSeconds(level, 0.999999)];
    expect(range(0)).toEqual([1, 1]);
    expect(range(1)).toEqual([1, 3]);
    expect(range(2)).toEqual([2, 6]);
    expect(range(3)).toEqual([4, 12]);
    for (let i = 0; i < 100; i++) expect(Number.isInteger(retryAfterSeconds(2))).toBe(true);
  });
});
