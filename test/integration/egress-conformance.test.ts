/**
 * The egress listener on the engine, byte for byte (the style of http1-conformance.test.ts): a
 * request the engine must refuse gets 400, the connection closes, and no vendor gets anything;
 * pipelined sends are answered in order; bodies reach the vendor framed as documented (a kept
 * body with its Content-Length, a streamed one as it came). The vendors are raw socket servers
 * (test/support/raw-http.ts): they share no parser with the engine.
 */
import { Registry } from 'prom-client';
import { Egress } from '../../sidecar/egress/index.js';
import { RawApp, RawClient, until } from '../support/raw-http.js';
import { configWithRoutes } from './egress-support.js';

const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
/** What the caller gets for a vendor's OK: a kept connection's answer carries the idle-timeout hint (5 s, the default). */
const KEPT = 'keep-alive: timeout=5\r\n';
const OK_C = `HTTP/1.1 200 OK\r\ncontent-length: 2\r\n${KEPT}\r\nok`;
const KEY = 'idempotency-key: k1\r\n';

describe('egress listener conformance (raw bytes)', () => {
  let a: RawApp;
  let b: RawApp;
  let egress: Egress;

  beforeAll(async () => {
    a = await RawApp.start();
    b = await RawApp.start();
    // The inbound's limits, with a short header timeout so slowloris is quick to show.
    egress = await Egress.start({ port: 0, registry: new Registry(), podName: 'relay-0', loadLevel: () => 0, limits: { headerTimeoutMs: 300 } });
    egress.apply(
      configWithRoutes([
        // Two vendors: a keyed send may be retried, so its body is kept and sent with its length.
        { name: 'pair', vendors: [{ name: 'a', url: a.url, timeoutMs: 2000 }, { name: 'b', url: b.url, timeoutMs: 2000 }] },
        // One vendor: never retried, so a body is streamed as it came.
        { name: 'one', vendors: [{ name: 'a', url: a.url, timeoutMs: 2000 }] },
        // One vendor and dedup (claims in memory: no Redis here).
        { name: 'keyed', vendors: [{ name: 'a', url: a.url, timeoutMs: 2000 }], dedup: { ttlSeconds: 60 } },
      ]),
    );
  });

  afterAll(async () => {
    await egress.close();
    await a.close();
    await b.close();
  });

  beforeEach(() => {
    a.reset();
    b.reset();
    a.script([], []);
    b.script([], []);
  });

  const host = () => `host: 127.0.0.1:${a.port}\r\n`;

  async function exchange(bytes: string[], done: (c: RawClient) => boolean): Promise<RawClient> {
    const c = await RawClient.connect(egress.port);
    for (const s of bytes) c.write(s);
    await until(() => done(c), 'the answers');
    return c;
  }

  const smuggling: Array<[string, string]> = [
    ['Content-Length with Transfer-Encoding', `POST /pair/x HTTP/1.1\r\nhost: e\r\n${KEY}content-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n`],
    ['Transfer-Encoding with Content-Length', `POST /pair/x HTTP/1.1\r\nhost: e\r\n${KEY}transfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n`],
    ['two different Content-Lengths', `POST /pair/x HTTP/1.1\r\nhost: e\r\n${KEY}content-length: 1\r\ncontent-length: 2\r\n\r\nxy`],
    ['final coding not chunked', `POST /pair/x HTTP/1.1\r\nhost: e\r\n${KEY}transfer-encoding: chunked, gzip\r\n\r\n`],
    ['obs-fold', `POST /pair/x HTTP/1.1\r\nhost: e\r\n${KEY}x-a: 1\r\n  folded\r\ncontent-length: 0\r\n\r\n`],
    ['whitespace before the colon', `POST /pair/x HTTP/1.1\r\nhost: e\r\n${KEY}content-length : 0\r\n\r\n`],
    ['bare CR in a value', `POST /pair/x HTTP/1.1\r\nhost: e\r\n${KEY}x-a: 1\r2\r\ncontent-length: 0\r\n\r\n`],
    ['a fragment in the target', `POST /pair/x#f HTTP/1.1\r\nhost: e\r\n${KEY}content-length: 0\r\n\r\n`],
    ['a chunk size with garbage (kept body)', `POST /pair/x HTTP/1.1\r\nhost: e\r\n${KEY}transfer-encoding: chunked\r\n\r\n5x\r\nhello\r\n0\r\n\r\n`],
    ['a chunk size that overflows (kept body)', `POST /pair/x HTTP/1.1\r\nhost: e\r\n${KEY}transfer-encoding: chunked\r\n\r\nfffffffffffffffffff\r\nx\r\n0\r\n\r\n`],
  ];

  it.each(smuggling)('%s: 400, the connection closes, no vendor gets a byte', async (_name, bytes) => {
    const c = await exchange([bytes], (x) => x.closed);
    expect(c.got).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(c.got.split('HTTP/1.1').length).toBe(2);
    expect(a.received + b.received).toBe('');
  });

  it('pipelined sends (one unknown route among them) are answered in order on one connection', async () => {
    const first = `GET /one/1 HTTP/1.1\r\nhost: e\r\nx-n: 1\r\n\r\n`;
    const unknown = `GET /nope/2 HTTP/1.1\r\nhost: e\r\n\r\n`;
    const third = `GET /one/3?q=1 HTTP/1.1\r\nhost: e\r\nx-n: 3\r\n\r\n`;
    const toVendor1 = `GET /1 HTTP/1.1\r\n${host()}x-n: 1\r\n\r\n`;
    const toVendor3 = `GET /3?q=1 HTTP/1.1\r\n${host()}x-n: 3\r\n\r\n`;
    a.script([toVendor1, toVendor3], ['HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\none', 'HTTP/1.1 201 Created\r\ncontent-length: 5\r\n\r\nthree']);
    const c = await exchange([first + unknown + third], (x) => x.got.endsWith('three'));
    const notFound = '{"error":"unknown route"}';
    expect(c.got).toBe(
      `HTTP/1.1 200 OK\r\ncontent-length: 3\r\n${KEPT}\r\none` +
        `HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: ${notFound.length}\r\n\r\n${notFound}` +
        `HTTP/1.1 201 Created\r\ncontent-length: 5\r\n${KEPT}\r\nthree`,
    );
    expect(a.received).toBe(toVendor1 + toVendor3);
    expect(c.closed).toBe(false);
    c.destroy();
  });

  it('targets are not normalised here: another spelling of a route name is an unknown route (404), a vendor path goes as sent', async () => {
    // The inbound normalises (http1/target.ts); the egress takes the app's own sends, selects the
    // route by an exact first segment, so a spelling can only fail closed, never reach a route's budget.
    const notFound = '{"error":"unknown route"}';
    const nf = `HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: ${notFound.length}\r\n\r\n${notFound}`;
    const odd = ['//one/x', '/./one/x', '/ONE/x', '/%6Fne/x', '/x/../one/x'].map((t) => `GET ${t} HTTP/1.1\r\nhost: e\r\n\r\n`);
    const sent = `GET /one/a//b/../%2fc;d HTTP/1.1\r\nhost: e\r\n\r\n`;
    const toVendor = `GET /a//b/../%2fc;d HTTP/1.1\r\n${host()}\r\n`;
    a.script([toVendor], [OK]);
    const c = await exchange([odd.join('') + sent], (x) => x.got.endsWith('ok'));
    expect(c.got).toBe(nf.repeat(odd.length) + OK_C);
    expect(a.received).toBe(toVendor);
    c.destroy();
  });

  it('a kept chunked body reaches the vendor de-chunked, with its Content-Length (hop-by-hop and the budget header dropped)', async () => {
    const send = `POST /pair/v1/send HTTP/1.1\r\nhost: e\r\n${KEY}connection: keep-alive\r\nx-spillway-timeout-ms: 5000\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`;
    const toVendor = `POST /v1/send HTTP/1.1\r\n${host()}${KEY}content-length: 11\r\n\r\nhello world`;
    a.script([toVendor], [OK]);
    const c = await exchange([send], (x) => x.got.endsWith('ok'));
    expect(c.got).toBe(OK_C);
    expect(a.received).toBe(toVendor);
    c.destroy();
  });

  it('a streamed chunked body reaches the vendor as it came, and a chunked answer is relayed as it came', async () => {
    const body = '3\r\nabc\r\n0\r\nx-t: 1\r\n\r\n';
    const send = `POST /one/s HTTP/1.1\r\nhost: e\r\ntransfer-encoding: chunked\r\n\r\n${body}`;
    const toVendor = `POST /s HTTP/1.1\r\n${host()}transfer-encoding: chunked\r\n\r\n${body}`;
    const answer = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n';
    a.script([toVendor], [answer]);
    const c = await exchange([send], (x) => x.got.endsWith('0\r\n\r\n'));
    expect(c.got).toBe(answer.replace('\r\n\r\n', `\r\n${KEPT}\r\n`));
    expect(a.received).toBe(toVendor);
    c.destroy();
  });

  it('a vendor that answers twice for one request: the extra bytes never reach the caller', async () => {
    const send = `GET /one/d HTTP/1.1\r\nhost: e\r\n\r\n`;
    a.script([`GET /d HTTP/1.1\r\n${host()}\r\n`], [OK + OK]);
    const c = await exchange([send], (x) => x.got.endsWith('ok'));
    await new Promise((r) => setTimeout(r, 50));
    expect(c.got).toBe(OK_C);
    c.destroy();
  });

  it('slowloris: a head that stops half-way gets 408 and the connection closes; no vendor byte', async () => {
    const c = await exchange(['POST /one/x HTTP/1.1\r\nhost: e\r\nx-a: 1'], (x) => x.closed);
    expect(c.got).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(a.received).toBe('');
  });

  it('a vendor dying mid-answer cuts the caller connection (never a truncated answer that looks whole)', async () => {
    a.script([`GET /cut HTTP/1.1\r\n${host()}\r\n`], [{ data: 'HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc', destroy: true }]);
    const c = await exchange(['GET /one/cut HTTP/1.1\r\nhost: e\r\n\r\n'], (x) => x.closed);
    expect(c.got).toBe(`HTTP/1.1 200 OK\r\ncontent-length: 10\r\n${KEPT}\r\nabc`);
  });

  it('a caller leaving mid-body on a streamed keyed send frees its key: the retry is sent, not answered as a duplicate', async () => {
    const head = `POST /keyed/k HTTP/1.1\r\nhost: e\r\n${KEY.replace('k1', 'left-1')}content-length: 10\r\n\r\n`;
    const toVendor = `POST /k HTTP/1.1\r\n${host()}${KEY.replace('k1', 'left-1')}content-length: 10\r\n\r\n`;
    a.script([toVendor + 'abc'], []);
    const first = await RawClient.connect(egress.port);
    first.write(head + 'abc');
    await until(() => a.received.length >= toVendor.length + 3, 'the first part at the vendor');
    first.destroy();
    await until(() => a.closedByPeer > 0, 'the vendor connection cut');
    a.reset();
    a.script([toVendor + '0123456789'], [OK]);
    const again = await exchange([head + '0123456789'], (x) => x.got.endsWith('ok'));
    expect(again.got).toBe(OK_C);
    again.destroy();
  });

  it('a kept chunked body over 1 MiB: 413 body-too-large, the connection closes, no vendor byte', async () => {
    const big = 'x'.repeat(1024 * 1024 + 1);
    const send = `POST /pair/big HTTP/1.1\r\nhost: e\r\n${KEY}transfer-encoding: chunked\r\n\r\n${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n`;
    const c = await exchange([send], (x) => x.closed);
    expect(c.got).toMatch(/^HTTP\/1\.1 413 Payload Too Large\r\n(.*\r\n)*x-spillway-reason: body-too-large\r\n(.*\r\n)*connection: close\r\n/);
    expect(a.received + b.received).toBe('');
  });
});
