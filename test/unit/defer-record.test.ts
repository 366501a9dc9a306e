import { decodeSend, encodeSend } from '../../sidecar/egress/defer-record.js';
import type { InRecord } from '../../sidecar/egress/kafka.js';

const NOW = 1_765_000_000_000;
const send = { route: 'push', method: 'POST', path: '/v1/send?to=u', headers: { 'content-type': 'application/json', 'idempotency-key': 'k1' }, body: Buffer.from('{}'), key: 'k1', firstSeenMs: NOW - 1000, attempts: 2 };
const stored = (headers: Record<string, string> = {}): InRecord => {
  const r = encodeSend(send, NOW + 600_000, NOW + 4000);
  return { ...r, headers: { ...r.headers, ...headers }, offset: '7' };
};
const error = (r: InRecord, route = 'push') => {
  const d = decodeSend(r, route, NOW);
  return d.ok ? 'ok' : d.error;
};

test('a stored send decodes to what was encoded', () => {
  expect(decodeSend(stored(), 'push', NOW)).toEqual({ ok: true, stored: { send, expiresAt: NOW + 600_000, retryAt: NOW + 4000 } });
  const { 'retry-at': _, ...noRetry } = stored().headers;
  expect(decodeSend({ ...stored(), headers: noRetry }, 'push', NOW)).toMatchObject({ ok: true, stored: { retryAt: 0 } });
  expect(error(stored({ path: '' }))).toBe('ok'); // the route's root
});

test('numbers are digits only: no exponents, signs, hex, NaN or Infinity', () => {
  for (const v of ['1e3', '-1', '0x10', 'NaN', 'Infinity', '', ' 5', '5.5', '99999999999999999']) {
    expect([v, error(stored({ attempts: v }))]).toEqual([v, expect.stringMatching(/^attempts/)]);
    expect([v, error(stored({ 'first-seen': v }))]).toEqual([v, expect.stringMatching(/^first-seen/)]);
  }
});

test('a send for another route than its topic is refused', () => {
  expect(error(stored(), 'sms')).toMatch(/^route: not the route of its topic/);
});

test('header names must be lower-case tokens, values free of CR, LF and controls', () => {
  expect(error(stored({ headers: JSON.stringify({ 'X-Up': 'a' }) }))).toMatch(/lower-case HTTP token/);
  expect(error(stored({ headers: JSON.stringify({ 'x y': 'a' }) }))).toMatch(/lower-case HTTP token/);
  for (const v of ['a\rb', 'a\nb', 'a\u0000b', 'a\u007fb', 'a\u0100b']) expect(error(stored({ headers: JSON.stringify({ 'x-a': v }) }))).toMatch(/CR, LF/);
  expect(error(stored({ headers: JSON.stringify({ 'x-a': 'caf\u00e9\tok' }) }))).toBe('ok');
  expect(error(stored({ headers: JSON.stringify(Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`x-${i}`, 'v']))) }))).toMatch(/more than 100/);
});
