/**
 * Differential fuzz of the engine: random valid requests (methods, targets, fields, no body,
 * Content-Length or chunked bodies with extensions and trailers) and random valid answers go
 * through the sidecar (targets in or out of normal form: the app gets the normal form), each split at random byte boundaries across writes, many per keep-alive
 * connection, up to three pipelined. The app must get exactly the client's bytes plus the documented rewrites, and the
 * client exactly the app's. A fixed seed always runs, then a random one; a failure prints its
 * seed and case so it can be replayed (SPILLWAY_FUZZ_SEED).
 */
import type { Inbound } from '../../sidecar/inbound.js';
import { normalizeTarget } from '../../sidecar/http1/target.js';
import { RawApp, RawClient } from '../support/raw-http.js';
import { startInbound } from './inbound-support.js';

const ADDED = 'x-forwarded-for: 127.0.0.1\r\nx-forwarded-proto: http\r\nx-spillway-class: unconfigured\r\nx-spillway-load-level: 0\r\n';
const CASES_PER_SEED = 5_000;
/** A new client connection every so many cases. */
const PER_CONNECTION = 250;
/** Independent app + sidecar pairs run side by side (the run is bound by round trips, not CPU). */
const LANES = 8;

/** mulberry32: small, seedable, good enough to pick shapes. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  constructor(readonly r: () => number) {}
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chars(alphabet: string, min: number, max: number): string {
    let s = '';
    const n = min + this.int(max - min + 1);
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }
  bytes(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.int(256));
    return s;
  }
}

const TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const PCHAR = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@%/";
let VCHAR = '';
for (let c = 0x21; c <= 0x7e; c++) VCHAR += String.fromCharCode(c);
const OBS = '\x80\xa0\xe9\xff';
const METHODS = ['GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'PURGE', 'm-1'];
const STATUSES = [200, 200, 200, 201, 202, 204, 301, 304, 400, 404, 429, 500, 503];

/** Field lines the engine passes untouched (names outside every name it acts on). */
function fields(g: Gen): string {
  let out = '';
  const n = g.int(8);
  for (let i = 0; i < n; i++) {
    const name = `${g.pick(['x-', 'X-', 'z'])}${g.chars(TCHAR, 1, 12)}`;
    const ows = () => g.pick(['', '', ' ', '  ', '\t']);
    const value = g.int(6) === 0 ? '' : g.chars(VCHAR, 1, 1) + g.chars(VCHAR + '  \t' + OBS, 0, 40) + g.chars(VCHAR, 1, 1);
    out += `${name}:${ows()}${value}${ows()}\r\n`;
  }
  return out;
}

/** A body and the field that frames it (none, Content-Length or chunked with extensions/trailers). */
function body(g: Gen, allowNone: boolean): { field: string; bytes: string } {
  const kind = g.int(allowNone ? 3 : 2) + (allowNone ? 0 : 1);
  if (kind === 0) return { field: '', bytes: '' };
  if (kind === 1) {
    const b = g.bytes(g.pick([0, 1, 10, 100, 1000, 3000]));
    return { field: `${g.pick(['content-length', 'Content-Length'])}: ${b.length}\r\n`, bytes: b };
  }
  let bytes = '';
  const chunks = g.int(5);
  for (let i = 0; i < chunks; i++) {
    const data = g.bytes(1 + g.int(g.pick([5, 100, 1000])));
    const size = data.length.toString(16);
    bytes += `${g.int(3) === 0 ? size.toUpperCase() : size}${g.int(4) === 0 ? `;${g.chars(TCHAR, 1, 5)}=${g.chars(TCHAR, 1, 5)}` : ''}\r\n${data}\r\n`;
  }
  bytes += `0\r\n${g.int(3) === 0 ? fields(g) : ''}\r\n`;
  return { field: `${g.pick(['transfer-encoding', 'Transfer-Encoding'])}: ${g.pick(['chunked', 'Chunked', 'gzip, chunked'])}\r\n`, bytes };
}

interface Exchange {
  /** What the client writes, in pieces. */
  pieces: string[];
  /** What the app must get. */
  app: string;
  reply: string;
  /** What the client must get: the reply with the kept connection's idle-timeout hint (5 s, the default) ending its head. */
  client: string;
}

function exchange(g: Gen): Exchange {
  const method = g.pick(METHODS);
  // Targets the inbound normalises are forwarded in normal form (the documented rewrite,
  // test/unit/http1-target.test.ts checks the normaliser itself); those it refuses (400, close:
  // inbound-normalize.test.ts) are drawn again, so every case here reaches the app.
  let target = '/';
  let normal: string | null = null;
  for (let tries = 0; normal === null && tries < 20; tries++) {
    target = '/' + g.chars(PCHAR, 0, 30) + (g.int(2) ? `?${g.chars(PCHAR + '?', 0, 30)}` : '');
    normal = normalizeTarget(target);
  }
  if (normal === null) target = normal = '/';
  const host = `host: ${g.pick(['a', 'example.com', 'h:8080'])}\r\n`;
  const b = method === 'GET' || method === 'HEAD' ? (g.int(4) === 0 ? body(g, true) : { field: '', bytes: '' }) : body(g, true);
  const before = fields(g);
  const after = fields(g);
  const fieldLines = `${before}${host}${b.field}${after}`;
  const request = `${method} ${target} HTTP/1.1\r\n${fieldLines}\r\n${b.bytes}`;
  // Up to four cuts anywhere (inside the request line, a field, a chunk size, CRLF pairs...).
  const cuts = Array.from({ length: g.int(5) }, () => 1 + g.int(Math.max(1, request.length - 1))).sort((x, y) => x - y);
  const pieces: string[] = [];
  let from = 0;
  for (const c of [...cuts, request.length]) {
    if (c > from) pieces.push(request.slice(from, c));
    from = Math.max(from, c);
  }
  const status = g.pick(STATUSES);
  const noBody = method === 'HEAD' || status === 204 || status === 304;
  const rb = body(g, false);
  const reply = `HTTP/1.1 ${status} ${g.pick(['OK', 'Whatever', ''])}\r\n${fields(g)}${noBody ? (g.int(2) ? 'content-length: 7\r\n' : '') : rb.field}${fields(g)}\r\n${noBody ? '' : rb.bytes}`;
  const headEnd = reply.indexOf('\r\n\r\n') + 2;
  const client = `${reply.slice(0, headEnd)}keep-alive: timeout=5\r\n${reply.slice(headEnd)}`;
  return { pieces, app: `${method} ${normal} HTTP/1.1\r\n${fieldLines}${ADDED}\r\n${b.bytes}`, reply, client };
}

describe('HTTP/1.1 differential fuzz (random valid messages, random splits)', () => {
  const lanes: { app: RawApp; inbound: Inbound }[] = [];

  beforeAll(async () => {
    for (let i = 0; i < LANES; i++) {
      const app = await RawApp.start();
      lanes.push({ app, ...(await startInbound(app.url)) });
    }
  });
  afterAll(async () => {
    for (const l of lanes) {
      await l.inbound.close();
      await l.app.close();
    }
  });

  const envSeed = Number(process.env.SPILLWAY_FUZZ_SEED);
  const seeds = Number.isInteger(envSeed) ? [envSeed] : [20261207, Math.floor(Math.random() * 2 ** 31)];

  it.each(seeds)(
    `seed %i: ${CASES_PER_SEED} exchanges arrive byte-identical but for the documented rewrites`,
    async (seed) => {
      const g = new Gen(prng(seed));
      const cases = Array.from({ length: CASES_PER_SEED }, () => exchange(g));
      const share = Math.ceil(cases.length / LANES);
      try {
        await Promise.all(lanes.map((l, n) => runLane(l.app, l.inbound, cases.slice(n * share, (n + 1) * share), `seed ${seed} lane ${n}`)));
      } catch (e) {
        throw new Error(`fuzz failure (replay: SPILLWAY_FUZZ_SEED=${seed}): ${(e as Error).message}`);
      }
    },
    120_000,
  );
});

/** Runs cases in order on keep-alive connections to one sidecar; the app checks every byte. */
async function runLane(app: RawApp, inbound: Inbound, cases: Exchange[], where: string): Promise<void> {
  let client: RawClient | null = null;
  try {
    for (let i = 0; i < cases.length; i += PER_CONNECTION) {
      client?.destroy();
      client = await RawClient.connect(inbound.port);
      const batch = cases.slice(i, i + PER_CONNECTION);
      app.script(
        batch.map((c) => c.app),
        batch.map((c) => c.reply),
      );
      let want = '';
      for (let k = 0; k < batch.length; k++) {
        const c = batch[k];
        want += c.client;
        for (let p = 0; p < c.pieces.length; p++) {
          client.write(c.pieces[p]);
          if (p < c.pieces.length - 1) await new Promise((r) => setImmediate(r));
        }
        // Every third request or so is pipelined behind the previous ones (the engine answers in order).
        if (k % 3 === 2 || k === batch.length - 1) await answered(client, want.length, () => `${where} case ${i + k}: app got ${JSON.stringify(app.received.slice(-300))}`);
      }
      expect(app.received).toBe(batch.map((c) => c.app).join(''));
      expect(client.got).toBe(want);
      expect(client.closed).toBe(false);
    }
    expect(inbound.state().classes.every((c) => c.inflight === 0)).toBe(true);
  } finally {
    client?.destroy();
  }
}

/** Resolves when the client has `length` bytes; rejects after 5 s with what() (a lost or short answer). */
function answered(client: RawClient, length: number, what: () => string): Promise<void> {
  if (client.got.length >= length) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.socket.off('data', check);
      reject(new Error(`no complete answer: ${what()}`));
    }, 5000);
    function check(): void {
      if (client.got.length < length) return;
      clearTimeout(timer);
      client.socket.off('data', check);
      resolve();
    }
    client.socket.on('data', check);
  });
}
