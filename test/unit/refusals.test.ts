import { createLogger } from '../../lib/log.js';
import { EGRESS_REFUSALS, INBOUND_REFUSALS, REFUSAL_REASONS } from '../../sidecar/admission/outcomes.js';
import { AccessLog } from '../../sidecar/admission/access-log.js';
import { MAX_RETRY_AFTER, REFUSAL_TABLE, Refusals, refusalBody } from '../../sidecar/admission/refusals.js';

/** Splits a raw HTTP/1.1 message into status, lower-cased headers and body. */
function parse(raw: Buffer): { status: number; headers: Record<string, string>; body: string } {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: text.slice(end + 4) };
}

describe('refusal table', () => {
  it('has an entry for every reason', () => {
    expect(Object.keys(REFUSAL_TABLE).sort()).toEqual([...REFUSAL_REASONS].sort());
    for (const r of [...INBOUND_REFUSALS, ...EGRESS_REFUSALS]) expect(REFUSAL_TABLE[r]).toBeDefined();
  });

  it('raw bytes: status, class and reason headers, one JSON body shape, Retry-After only for sidecar decisions', () => {
    const refusals = new Refusals('bulk "x"', 429, REFUSAL_REASONS);
    for (const reason of REFUSAL_REASONS) {
      const spec = REFUSAL_TABLE[reason];
      for (const close of [false, true]) {
        const m = parse(refusals.bytes(reason, 3, close));
        expect(m.status).toBe(spec.status === 'reject' ? 429 : spec.status);
        expect(m.headers['x-spillway-class']).toBe('bulk "x"');
        expect(m.headers['x-spillway-reason']).toBe(reason);
        expect(m.headers['content-type']).toBe('application/json');
        expect(Number(m.headers['content-length'])).toBe(Buffer.byteLength(m.body));
        expect(JSON.parse(m.body)).toEqual({ error: spec.error, class: 'bulk "x"', reason });
        expect(m.body).toBe(refusalBody('bulk "x"', reason));
        expect(m.headers.connection).toBe(close ? 'close' : undefined);
        if (spec.retryAfter) {
          const s = Number(m.headers['retry-after']);
          expect(Number.isInteger(s) && s >= 1 && s <= MAX_RETRY_AFTER).toBe(true);
        } else expect(m.headers['retry-after']).toBeUndefined();
      }
    }
  });

  it('load refusals use the class status; upstream failures 502/504', () => {
    const r = new Refusals('c', 503, INBOUND_REFUSALS);
    expect(INBOUND_REFUSALS.map((x) => r.get(x).status)).toEqual([503, 503, 503, 502, 504]);
  });

  it('Retry-After grows with the load level', () => {
    const r = new Refusals('c', 503, ['capacity']);
    const p = r.get('capacity');
    const max = (level: number) => Math.max(...Array.from({ length: 200 }, () => p.retryAfterAt(level)));
    const min = (level: number) => Math.min(...Array.from({ length: 200 }, () => p.retryAfterAt(level)));
    expect(max(0)).toBeLessThanOrEqual(2);
    expect(min(3)).toBeGreaterThanOrEqual(4);
  });

  it('a raw-socket writer offers the refusal it sent to the access log', () => {
    const lines: Record<string, unknown>[] = [];
    const log = new AccessLog({ mode: 'refusals', logger: createLogger({ write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }), now: () => 0 });
    const r = new Refusals('c', 429, INBOUND_REFUSALS, log);
    expect(r.bytes('load-level', 1, false).toString('latin1')).toMatch(/^HTTP\/1\.1 429 Too Many Requests\r\n/);
    r.note('load-level', 'GET', '/x', 1);
    expect(lines).toEqual([expect.objectContaining({ msg: 'refused', class: 'c', reason: 'load-level', status: 429, method: 'GET', path: '/x', loadLevel: 1 })]);
  });
});
