/**
 * Issue 10 item 1 through a real inbound proxy: with a `background-login` class (POST /login,
 * limit 1, no queue) and a `messages` class (pathPrefix /messages/) held full, every other
 * spelling of those routes is refused by its class (503 capacity) or, when it cannot be
 * normalised safely, with 400, and none reaches the app. The app receives the normalised target.
 */
import type { Inbound } from '../../sidecar/inbound.js';
import { RawClient, until } from '../support/raw-http.js';
import { classState, compiled, send, startInbound, Upstream, waitFor } from './inbound-support.js';

describe('inbound target normalisation', () => {
  let up: Upstream;
  let inbound: Inbound;

  beforeAll(async () => {
    up = await Upstream.start();
    ({ inbound } = await startInbound(up.url));
    inbound.apply(
      compiled({
        classes: [
          { name: 'background-login', match: [{ method: 'POST', path: '/login' }], concurrency: { limit: 1 }, queue: { size: 0 } },
          { name: 'messages', match: [{ pathPrefix: '/messages/' }], concurrency: { limit: 1 }, queue: { size: 0 } },
        ],
        defaultClass: { concurrency: { limit: 1000 } },
      }),
    );
    // Only the two requests that fill the classes are held; anything else that escaped would be answered (and recorded).
    up.hold = (req) => up.arrivals.length <= 2 && (req.url === '/login' || req.url === '/messages/1');
  });
  afterAll(async () => {
    await inbound.close();
    await up.close();
  });

  /** One request as raw bytes on a fresh connection; the status of the answer. */
  async function raw(method: string, target: string): Promise<number> {
    const c = await RawClient.connect(inbound.port);
    try {
      c.write(`${method} ${target} HTTP/1.1\r\nHost: app\r\nContent-Length: 0\r\n\r\n`);
      await until(() => c.got.includes('\r\n\r\n') || c.closed, `an answer to ${method} ${target}`);
      return Number(/^HTTP\/1\.1 (\d{3}) /.exec(c.got)?.[1] ?? 0);
    } finally {
      c.destroy();
    }
  }

  it('refuses every spelling of a full class: by the class (503) or as unsafe (400); none reaches the app', async () => {
    const login = send(inbound.port, { method: 'POST', path: '/login' });
    const messages = send(inbound.port, { path: '/messages/1' });
    await waitFor(() => up.held.length === 2, 'both classes full');
    expect([classState(inbound, 'background-login').inflight, classState(inbound, 'messages').inflight]).toEqual([1, 1]);

    const spellings: Array<[string, string, number]> = [
      ['POST', '/login/', 503],
      ['POST', '/LOGIN', 503],
      ['POST', '/Login/', 503],
      ['POST', '//login', 503],
      ['POST', '/./login', 503],
      ['POST', '/x/../login', 503],
      ['POST', '/x/%2e%2e/login', 503],
      ['POST', '/x/.%2E/login', 503],
      ['POST', '/%6Cogin', 503],
      ['POST', '/%6c%6F%67%69%6e', 503],
      ['POST', '/login/.', 503],
      ['POST', '/login?x=1', 503],
      ['POST', 'http://a/login', 503],
      ['POST', 'HTTP://a//LOGIN/', 503],
      ['POST', '/login#f', 400],
      ['POST', '/%2e%2e/login', 400],
      ['POST', '/../login', 400],
      ['POST', '/login;x', 400],
      ['POST', '/login;jsessionid=1', 400],
      ['POST', '/login\\', 400],
      ['POST', '/x%2F..%2Flogin', 400],
      ['POST', '/login%00', 400],
      ['POST', '/log%zzin', 400],
      ['POST', '/login%4', 400],
      ['POST', 'http://a/%2e%2e/login', 400],
      ['GET', '/Messages/2', 503],
      ['GET', '/MESSAGES/2', 503],
      ['GET', '/messages', 503],
      ['GET', '//messages//2', 503],
      ['GET', '/x/../Messages/2?y', 503],
      ['GET', '/%6Dessages/2', 503],
    ];
    const got: Array<[string, string, number]> = [];
    for (const [method, target] of spellings) got.push([method, target, await raw(method, target)]);
    expect(got).toEqual(spellings);
    expect(up.arrivals).toEqual(['/login', '/messages/1']);

    up.release();
    expect((await Promise.all([login, messages])).map((r) => r.status)).toEqual([200, 200]);
  });

  it('sends the app the normalised target (the request line is rewritten only when it changed)', async () => {
    const before = up.arrivals.length;
    expect(await raw('GET', '/a/./b/../c//d?x=/./&y=%2e')).toBe(200);
    expect(await raw('GET', '/%7Euser/%41b%3f')).toBe(200);
    expect(await raw('GET', '/plain/path?q=1')).toBe(200);
    expect(up.arrivals.slice(before)).toEqual(['/a/c/d?x=/./&y=%2e', '/~user/Ab%3F', '/plain/path?q=1']);
  });

  it('leaves OPTIONS * as it is', async () => {
    expect(await raw('OPTIONS', '*')).toBe(200);
    expect(up.arrivals.at(-1)).toBe('*');
  });
});
