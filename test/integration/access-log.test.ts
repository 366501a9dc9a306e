/** The access log through the real inbound proxy and egress: refusal and end lines for requests that really happened. */
import { Registry } from 'prom-client';
import { AccessLog } from '../../sidecar/admission/access-log.js';
import { Egress } from '../../sidecar/egress/index.js';
import type { Inbound } from '../../sidecar/inbound.js';
import { createLogger } from '../../lib/log.js';
import { configWithRoutes, request } from './egress-support.js';
import { compiled, send, startInbound, Upstream, waitFor } from './inbound-support.js';

describe('access log', () => {
  let up: Upstream;
  let inbound: Inbound;
  let registry: Registry;
  let log: AccessLog;
  const lines: Record<string, unknown>[] = [];

  beforeEach(async () => {
    lines.length = 0;
    up = await Upstream.start();
    log = new AccessLog({ mode: 'all', logger: createLogger({ write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }) });
    ({ inbound, registry } = await startInbound(up.url, { accessLog: log }));
  });
  afterEach(async () => {
    log.stop();
    await inbound.close();
    await up.close();
    registry.clear();
  });

  it('logs a capacity refusal and the admitted request when it ends', async () => {
    inbound.apply(compiled({ classes: [{ name: 'one', match: [{ pathPrefix: '/one' }], concurrency: { limit: 1 } }] }));
    const first = send(inbound.port, { path: '/one/a' });
    await waitFor(() => up.held.length === 1, 'first held');
    const refused = await send(inbound.port, { method: 'POST', path: '/one/b?x=1', body: 'hi' });
    expect(refused.status).toBe(503);
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: 'refused', class: 'one', reason: 'capacity', status: 503, method: 'POST', path: '/one/b?x=1', loadLevel: 0 }),
    );
    up.release();
    expect((await first).status).toBe(200);
    await waitFor(() => lines.some((l) => l.msg === 'request'), 'end line');
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'request', class: 'one', outcome: 'success', status: 200, method: 'GET', path: '/one/a' }));
  });

  it('logs an egress refusal with the route as its class', async () => {
    const egress = await Egress.start({ port: 0, registry: new Registry(), podName: 'relay-0', loadLevel: () => 2, accessLog: log });
    try {
      egress.apply(
        configWithRoutes([
          {
            name: 'push',
            vendors: [{ name: 'a', url: up.url, timeoutMs: 1000 }],
            shedAtLevel: 1,
          },
        ]),
      );
      const r = await request(egress.port, '/push/v1/send', { body: 'x' });
      expect(r.status).toBe(503);
      expect(lines).toContainEqual(
        expect.objectContaining({ msg: 'refused', class: 'push', reason: 'load-level', status: 503, method: 'POST', path: '/push/v1/send', loadLevel: 2 }),
      );
    } finally {
      await egress.close();
    }
  });
});
