/**
 * The engine's upstream pool hands a connection to the next request in a state that can serve it.
 * Found by the overhead benchmark's fixed-rate phase (Node 20, after a wrk run): a response whose
 * last body write met client back-pressure (or a client socket already ended: write() is false)
 * left its upstream socket paused; the exchange ended, so no client 'drain' would resume it, and
 * the paused socket went back to the pool: the next request on it was sent, answered by the app,
 * read by the kernel and never relayed. The exchange here is our own seam (UpstreamUser); the
 * pool, its sockets and the app are real.
 */
import { UpstreamPool, type UpstreamConn, type UpstreamUser } from '../../sidecar/http1/upstream.js';
import { Upstream, waitFor } from './inbound-support.js';

/** An exchange that records what it got; `accept` is what upstreamBody answers (false: back-pressure). */
class User implements UpstreamUser {
  body = '';
  ended = false;
  failed = false;
  constructor(private readonly accept: boolean) {}
  upstreamReady(): void {}
  upstreamInterim(): void {}
  upstreamHead(): void {}
  upstreamBody(b: Buffer): boolean {
    this.body += b.toString('latin1');
    return this.accept;
  }
  requestSent(): boolean {
    return true;
  }
  upstreamEnd(): void {
    this.ended = true;
  }
  upstreamUpgraded(): void {}
  upstreamFailed(): void {
    this.failed = true;
  }
  upstreamDrain(): void {}
}

describe('upstream pool', () => {
  let upstream: Upstream;
  let pool: UpstreamPool;

  beforeAll(async () => {
    upstream = await Upstream.start();
    upstream.hold = () => false;
    const u = new URL(upstream.url);
    pool = new UpstreamPool({ host: u.hostname, port: Number(u.port), maxSockets: 4, connectTimeoutMs: 2000, idleTimeoutMs: 30_000, now: () => performance.now() });
  });

  afterAll(async () => {
    pool.destroy();
    await new Promise((r) => upstream.server.close(r));
  });

  const send = (user: User): UpstreamConn => {
    const c = pool.acquire(user) as UpstreamConn;
    c.expect(false, false, false);
    c.socket.write('GET / HTTP/1.1\r\nhost: a\r\n\r\n');
    return c;
  };

  it('a connection whose last body write met back-pressure serves the next request', async () => {
    const first = new User(false);
    const c1 = send(first);
    await waitFor(() => first.ended, 'the first response');
    expect(first.body).toBe('ok');

    const second = new User(true);
    const c2 = send(second);
    expect(c2).toBe(c1); // LIFO: the warm connection is reused
    await waitFor(() => second.ended || second.failed, 'the second response', 3_000);
    expect(second).toMatchObject({ ended: true, failed: false, body: 'ok' });
  });
});
