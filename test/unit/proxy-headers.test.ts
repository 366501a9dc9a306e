import { clientResponseHeaders } from '../../sidecar/proxy-headers.js';
import { retryAfterSeconds } from '../../sidecar/admission/refusals.js';

const pairs = (a: string[]) => Array.from({ length: a.length / 2 }, (_, i) => `${a[2 * i]}: ${a[2 * i + 1]}`);

describe('proxy headers', () => {
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
