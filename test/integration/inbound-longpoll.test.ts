/**
 * socket.io long polling under examples/chat-policy.yaml: hundreds of GETs held open for
 * seconds live in their own class (big budget, affectsLoadLevel: false), so they neither take
 * short requests' slots nor raise the load level (which would shed background logins).
 */
import { readFileSync } from 'node:fs';
import type { Registry } from 'prom-client';
import { parse } from 'yaml';
import type { Inbound } from '../../sidecar/inbound.js';
import { classState, compiledPolicy, metric, send, startInbound, Upstream, waitFor, type Reply } from './inbound-support.js';

const POLLS = 300;

describe('inbound long polling (chat policy)', () => {
  let up: Upstream;
  let inbound: Inbound;
  let registry: Registry;

  beforeAll(async () => {
    up = await Upstream.start();
    up.hold = (req) => req.url?.includes('transport=polling') ?? false;
    ({ inbound, registry } = await startInbound(up.url));
    inbound.apply(compiledPolicy(parse(readFileSync(new URL('../../examples/chat-policy.yaml', import.meta.url), 'utf8'))));
  });
  afterAll(async () => {
    await inbound.close();
    await up.close();
  });

  it(`${POLLS} held long-polls block neither short requests nor raise the load level`, async () => {
    const polls: Promise<Reply>[] = [];
    for (let i = 0; i < POLLS; i++) polls.push(send(inbound.port, { path: `/socket.io/?EIO=4&transport=polling&sid=s${i}` }));
    await waitFor(() => up.held.length === POLLS, 'all polls held at the upstream', 30_000);
    expect(classState(inbound, 'long-poll').inflight).toBe(POLLS);

    // Several samples with the polls held: utilisation counts no long-poll, the level stays 0.
    await new Promise((r) => setTimeout(r, 400));
    expect(inbound.state().utilisation).toBe(0);
    expect(inbound.loadLevel()).toBe(0);

    const short = await Promise.all([
      ...Array.from({ length: 40 }, (_, i) => send(inbound.port, { method: 'POST', path: `/messages/${i}`, body: 'hello' })),
      ...Array.from({ length: 20 }, () => send(inbound.port, { path: '/sync' })),
      ...Array.from({ length: 10 }, () => send(inbound.port, { method: 'POST', path: '/login', headers: { 'x-login-kind': 'background' } })),
    ]);
    expect(short.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
    expect(inbound.loadLevel()).toBe(0);
    expect(await metric(registry, 'spillway_requests_total{class="background-login",outcome="success"}')).toBe(10);

    up.release();
    const done = await Promise.all(polls);
    expect(done.every((r) => r.status === 200)).toBe(true);
    expect(classState(inbound, 'long-poll').inflight).toBe(0);
  });
});
