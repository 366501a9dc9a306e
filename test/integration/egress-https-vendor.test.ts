/**
 * https:// vendors stay on node:https behind the egress's vendor client interface: kept and
 * streamed bodies arrive whole, and the vendor's answer (with a length, or chunked) reaches the
 * caller re-framed and intact. The vendor's certificate comes from a private CA, trusted the way
 * an operator would trust one (NODE_EXTRA_CA_CERTS, read at process start): so the sidecar runs
 * as a process from dist/ (`npm run build` first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateCa, issueServingCert } from '../../operator/webhook-tls.js';
import { freePort } from '../support/ports.js';
import { eventually, request } from './egress-support.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'spillway.js');

function policy(url: string): string {
  return `apiVersion: spillway.io/v1alpha1
kind: TrafficPolicy
metadata: { name: relay, namespace: talk }
spec:
  targetRef: { name: relay }
  routes:
    - name: one
      vendors:
        - { name: v, url: "${url}", timeoutMs: 5000 }
    - name: pair
      vendors:
        - { name: v, url: "${url}", timeoutMs: 5000 }
        - { name: w, url: "${url}", timeoutMs: 5000 }
`;
}

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

describe('egress to an https:// vendor', () => {
  let vendor: Server;
  let child: ChildProcess;
  let exited: Promise<unknown>;
  let dir = '';
  let egressPort = 0;
  let stderr = '';
  const seen: Seen[] = [];

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'sidecar', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
    const ca = generateCa('test-ca');
    const pair = issueServingCert(ca, ['localhost']);
    vendor = createServer({ cert: pair.cert, key: pair.key }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        const answer = JSON.stringify({ got: body });
        if (req.url?.includes('chunked')) {
          res.writeHead(201, { 'content-type': 'application/json' });
          res.write(answer.slice(0, 5));
          res.end(answer.slice(5));
        } else res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) }).end(answer);
      });
    });
    await new Promise<void>((r) => vendor.listen(0, '127.0.0.1', r));
    dir = await mkdtemp(join(tmpdir(), 'spillway-https-vendor-'));
    await writeFile(join(dir, 'ca.pem'), ca.caCert);
    await writeFile(join(dir, 'policy.yaml'), policy(`https://localhost:${(vendor.address() as AddressInfo).port}/api`));
    const [listen, admin, egress, upstream] = [await freePort(), await freePort(), await freePort(), await freePort()];
    egressPort = egress;
    child = spawn(
      process.execPath,
      [BIN, 'sidecar', '--listen', String(listen), '--admin', String(admin), '--egress', String(egress), '--host', '127.0.0.1',
        '--upstream', `http://127.0.0.1:${upstream}`, '--policy', join(dir, 'policy.yaml'), '--state-dir', join(dir, 'state')],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, POD_NAME: 'relay-0', NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem') } },
    );
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    exited = once(child, 'exit');
    const ready = await eventually(async () => {
      if (child.exitCode !== null) throw new Error(`sidecar exited ${child.exitCode}: ${stderr.slice(-2000)}`);
      return fetch(`http://127.0.0.1:${admin}/readyz`).then((r) => r.status === 200, () => false);
    }, 30_000, 100);
    if (!ready) throw new Error(`sidecar not ready: ${stderr.slice(-2000)}`);
  }, 60_000);

  afterAll(async () => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid, 'SIGKILL');
      await exited;
    }
    if (vendor) {
      vendor.closeAllConnections();
      await new Promise((r) => vendor.close(r));
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    seen.length = 0;
  });

  it('a kept body (keyed, two vendors) arrives with its length; a length-framed answer comes back as it was', async () => {
    const r = await request(egressPort, '/pair/v1/send?x=1', { headers: { 'idempotency-key': 'k1', 'x-app': 'a' }, body: 'hello' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ got: 'hello' });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/api/v1/send?x=1', body: 'hello' });
    expect(seen[0].headers).toMatchObject({ 'content-length': '5', 'x-app': 'a', 'idempotency-key': 'k1', host: expect.stringMatching(/^localhost:/) });
  });

  it('a streamed chunked body arrives whole; a chunked answer is re-framed for the caller', async () => {
    const r = await new Promise<{ status: number; te: string | undefined; body: string }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: egressPort, path: '/one/chunked', method: 'PUT', agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, te: res.headers['transfer-encoding'], body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.write('abc');
      setTimeout(() => req.end('def'), 20);
    });
    expect(r).toEqual({ status: 201, te: 'chunked', body: JSON.stringify({ got: 'abcdef' }) });
    expect(seen[0]).toMatchObject({ method: 'PUT', url: '/api/chunked', body: 'abcdef' });
    expect(seen[0].headers['transfer-encoding']).toBe('chunked');
  });
});
