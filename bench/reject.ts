/**
 * Rejection cost: in one sidecar process, CPU per proxied request (GET / to nginx, default
 * class) against CPU per refused request (GET /shed: its class's one slot is held by a
 * trickling /hold request and it has no queue, so every /shed is answered 503 capacity).
 * For scale, the same load on the bare proxy (proxied) and on a node:http server that only
 * answers a fixed 503 (the least a node:http refusal can cost).
 */
import { get, type ClientRequest, type IncomingMessage } from 'node:http';
import type { BenchConfig } from './config.js';
import { startNginxUpstream } from './peers.js';
import { REJECT_POLICY } from './policies.js';
import { CpuMeter, freePort, NODE, start, stopAll, type Proc } from './procs.js';
import { median, round, type BenchReport, type Row } from './report.js';
import { script, startBareProxy, startSidecar } from './targets.js';
import { runWrk } from './wrk.js';

const CONNECTIONS = 50;

/** Takes the class's only slot: a request whose response body trickles for an hour. */
function hold(port: number): Promise<{ req: ClientRequest; res: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/hold', agent: false }, (res) => {
      res.resume();
      req.setTimeout(0);
      if (res.statusCode === 200) resolve({ req, res });
      else reject(new Error(`/hold answered ${res.statusCode}`));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('/hold: no response headers within 10 s')));
  });
}

/** One /shed request, to check it is refused by the sidecar (not proxied). */
function probe(port: number): Promise<{ status: number; reason: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/shed', agent: false }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, reason: String(res.headers['x-spillway-reason'] ?? '') });
    }).on('error', reject);
  });
}

async function measure(cfg: BenchConfig, kind: string, proc: Proc, port: number, path: string, run: number): Promise<Row> {
  const wrk = { url: `http://127.0.0.1:${port}${path}`, connections: CONNECTIONS, dir: cfg.dir, cpus: cfg.loadCpus };
  await runWrk({ ...wrk, durationSec: 2, name: 'warmup' });
  const meter = new CpuMeter([proc]);
  const r = await runWrk({ ...wrk, durationSec: cfg.durationSec });
  const cpu = meter.since()[proc.name];
  return {
    kind,
    run,
    rps: round(r.rps, 0),
    non2xx: r.non2xx,
    socketErrors: r.socketErrors,
    p50Ms: round(r.p50Ms),
    p99Ms: round(r.p99Ms),
    cpuUsPerReq: round(cpu.cpuUs / r.requests, 2),
    cores: round(cpu.cores, 2),
  };
}

export async function reject(cfg: BenchConfig): Promise<BenchReport> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const upstreamPort = await freePort();
  const listen = await freePort();
  const procs: Proc[] = [];
  let held: { req: ClientRequest } | null = null;
  try {
    procs.push(await startNginxUpstream(cfg.dir, upstreamPort, cfg.loadCpus));
    const sidecar = await startSidecar({ dir: cfg.dir, policyYaml: REJECT_POLICY, listen, upstreamPort, cpus: cfg.proxyCpus });
    procs.push(sidecar);
    held = await hold(listen);
    const p = await probe(listen);
    notes.push(`a /shed probe got ${p.status} x-spillway-reason: ${p.reason || '(none)'}`);
    if (p.status < 400) throw new Error(`/shed was not refused (status ${p.status}): the slot is not held`);
    const bareListen = await freePort();
    const bare = await startBareProxy(bareListen, upstreamPort, cfg.proxyCpus);
    procs.push(bare);
    const fixedPort = await freePort();
    const fixed = await start('fixed-503', NODE, [script('fixed-server'), String(fixedPort)], { port: fixedPort, cpus: cfg.proxyCpus });
    procs.push(fixed);
    for (let run = 1; run <= cfg.runs; run++) {
      rows.push(await measure(cfg, 'sidecar proxied', sidecar, listen, '/', run));
      rows.push(await measure(cfg, 'sidecar refused', sidecar, listen, '/shed', run));
      rows.push(await measure(cfg, 'bare-proxy proxied', bare, bareListen, '/', run));
      rows.push(await measure(cfg, 'node:http fixed 503', fixed, fixedPort, '/', run));
    }
  } catch (e) {
    rows.push({ kind: 'error', error: (e as Error).message.split('\n')[0] });
  } finally {
    held?.req.destroy();
    await stopAll(procs);
  }
  const med = (kind: string): number =>
    median(rows.filter((r) => r.kind === kind && typeof r.cpuUsPerReq === 'number').map((r) => r.cpuUsPerReq as number));
  const ratio = med('sidecar refused') / med('sidecar proxied');
  const floor = med('node:http fixed 503') / med('bare-proxy proxied');
  return {
    name: 'reject',
    description:
      `wrk -t1 -c${CONNECTIONS} -d${cfg.durationSec}s (after 2 s warm-up) against one sidecar: GET / proxied to nginx vs GET /shed refused ` +
      '(class limit 1, no queue, slot held); for scale the bare proxy (GET / proxied) and a node:http server answering a fixed 503. ' +
      'cpuUsPerReq: that process\'s utime+stime over the run / responses.',
    rows,
    summary: [
      {
        measure: 'sidecar refused / sidecar proxied',
        proxiedUsPerReq: round(med('sidecar proxied'), 2),
        refusedUsPerReq: round(med('sidecar refused'), 2),
        ratio: round(ratio, 3),
        target: '≤ 0.25',
        verdict: Number.isFinite(ratio) ? (ratio <= 0.25 ? 'met' : 'MISSED') : 'not measured',
      },
      {
        measure: 'node:http fixed 503 / bare proxy proxied (floor)',
        proxiedUsPerReq: round(med('bare-proxy proxied'), 2),
        refusedUsPerReq: round(med('node:http fixed 503'), 2),
        ratio: round(floor, 3),
        target: null,
        verdict: null,
      },
    ],
    notes,
  };
}
