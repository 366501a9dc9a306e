/**
 * Rejection cost: in one sidecar process, CPU per proxied request (GET / to nginx, default
 * class) against CPU per refused request (GET /shed: its class's one slot is held by a
 * trickling /hold request and it has no queue, so every /shed is answered 503 capacity).
 * For scale, the same load on the bare proxy (proxied) and on a node:http server that only
 * answers a fixed 503 (the least a node:http refusal can cost).
 *
 * HAProxy (nbthread 1) runs beside it on the same load: GET / proxied and GET /shed refused by
 * `http-request deny`. The verdict is issue 9's: the sidecar's CPU per refused request ≤ 1.3×
 * HAProxy's deny in the same run.
 */
import { get, type ClientRequest, type IncomingMessage } from 'node:http';
import type { BenchConfig } from './config.js';
import { startHaproxyDeny, startNginxUpstream } from './peers.js';
import { REJECT_POLICY } from './policies.js';
import { CpuMeter, freePort, NODE, start, stopAll, type Proc } from './procs.js';
import { median, ratioVerdict, round, type BenchReport, type Row } from './report.js';
import { POLICY_AB_LIMIT, POLICY_B, policyNote, script, sidecarPolicy, startBareProxy, startSidecar, type SidecarProc } from './targets.js';
import { runWrk } from './wrk.js';

const CONNECTIONS = 50;
/** Issue 9: the sidecar's CPU per refused request / HAProxy's `http-request deny`. */
export const HAPROXY_REFUSAL_LIMIT = 1.3;

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

/** A sidecar whose /shed class's only slot is held, checked by a probe that must be refused. */
async function refusingSidecar(
  cfg: BenchConfig,
  policyYaml: string,
  upstreamPort: number,
  notes: string[],
  holds: ClientRequest[],
  label: string,
): Promise<{ proc: SidecarProc; port: number }> {
  const port = await freePort();
  const proc = await startSidecar({ dir: cfg.dir, policyYaml, listen: port, upstreamPort, cpus: cfg.proxyCpus });
  try {
    holds.push((await hold(port)).req);
    const p = await probe(port);
    notes.push(`${label}: a /shed probe got ${p.status} x-spillway-reason: ${p.reason || '(none)'}`);
    if (p.status < 400) throw new Error(`${label}: /shed was not refused (status ${p.status}): the slot is not held`);
  } catch (e) {
    await proc.stop();
    throw e;
  }
  return { proc, port };
}

export async function reject(cfg: BenchConfig): Promise<BenchReport> {
  const rows: Row[] = [];
  const notes: string[] = policyNote();
  const upstreamPort = await freePort();
  const procs: Proc[] = [];
  const holds: ClientRequest[] = [];
  try {
    procs.push(await startNginxUpstream(cfg.dir, upstreamPort, cfg.loadCpus));
    const sidecar = await refusingSidecar(cfg, sidecarPolicy(REJECT_POLICY), upstreamPort, notes, holds, 'sidecar');
    procs.push(sidecar.proc);
    const sidecarB = POLICY_B !== null ? await refusingSidecar(cfg, sidecarPolicy(REJECT_POLICY, 'b'), upstreamPort, notes, holds, 'sidecar-b') : null;
    if (sidecarB) procs.push(sidecarB.proc);
    const haPort = await freePort();
    const haproxy = await startHaproxyDeny(cfg.dir, haPort, upstreamPort, cfg.proxyCpus);
    procs.push(haproxy);
    const bareListen = await freePort();
    const bare = await startBareProxy(bareListen, upstreamPort, cfg.proxyCpus);
    procs.push(bare);
    const fixedPort = await freePort();
    const fixed = await start('fixed-503', NODE, [script('fixed-server'), String(fixedPort)], { port: fixedPort, cpus: cfg.proxyCpus });
    procs.push(fixed);
    const steps: [string, Proc, number, string][] = [
      ['sidecar proxied', sidecar.proc, sidecar.port, '/'],
      ['sidecar refused', sidecar.proc, sidecar.port, '/shed'],
      ...(sidecarB
        ? ([
            ['sidecar-b proxied', sidecarB.proc, sidecarB.port, '/'],
            ['sidecar-b refused', sidecarB.proc, sidecarB.port, '/shed'],
          ] as [string, Proc, number, string][])
        : []),
      ['haproxy proxied', haproxy, haPort, '/'],
      ['haproxy refused', haproxy, haPort, '/shed'],
      ['bare-proxy proxied', bare, bareListen, '/'],
      ['node:http fixed 503', fixed, fixedPort, '/'],
    ];
    for (let run = 1; run <= cfg.runs; run++) {
      // Alternate the order so slow drift on a shared machine does not favour one side.
      for (const [kind, proc, port, path] of run % 2 ? steps : [...steps].reverse()) rows.push(await measure(cfg, kind, proc, port, path, run));
    }
  } catch (e) {
    rows.push({ kind: 'error', error: (e as Error).message.split('\n')[0] });
  } finally {
    for (const h of holds) h.destroy();
    await stopAll(procs);
  }
  const med = (kind: string): number =>
    median(rows.filter((r) => r.kind === kind && typeof r.cpuUsPerReq === 'number').map((r) => r.cpuUsPerReq as number));
  /** numerator / denominator, the CPU µs per request of two rows' kinds. */
  const pair = (label: string, denominator: string, numerator: string, limit: number | null): Row => {
    const ratio = med(numerator) / med(denominator);
    return {
    measure: label,
    numeratorUsPerReq: round(med(numerator), 2),
    denominatorUsPerReq: round(med(denominator), 2),
    ratio: round(ratio, 3),
    target: limit === null ? null : `≤ ${limit}`,
    verdict: limit === null ? null : ratioVerdict(ratio, limit),
    };
  };
  const summary: Row[] = [
    pair('TARGET sidecar refused / haproxy deny', 'haproxy refused', 'sidecar refused', HAPROXY_REFUSAL_LIMIT),
    pair('sidecar proxied / haproxy proxied (the target is overhead\'s)', 'haproxy proxied', 'sidecar proxied', null),
    pair('sidecar refused / sidecar proxied', 'sidecar proxied', 'sidecar refused', null),
    pair('haproxy deny / haproxy proxied', 'haproxy proxied', 'haproxy refused', null),
    pair('node:http fixed 503 / bare proxy proxied (floor)', 'bare-proxy proxied', 'node:http fixed 503', null),
  ];
  if (POLICY_B !== null) {
    summary.push(
      pair('TARGET sidecar-b refused / haproxy deny', 'haproxy refused', 'sidecar-b refused', HAPROXY_REFUSAL_LIMIT),
      pair('policy A/B: sidecar-b / sidecar, proxied', 'sidecar proxied', 'sidecar-b proxied', POLICY_AB_LIMIT),
      pair('policy A/B: sidecar-b / sidecar, refused', 'sidecar refused', 'sidecar-b refused', POLICY_AB_LIMIT),
    );
  }
  return {
    name: 'reject',
    description:
      `wrk -t1 -c${CONNECTIONS} -d${cfg.durationSec}s (after 2 s warm-up) against one sidecar: GET / proxied to nginx vs GET /shed refused ` +
      '(class limit 1, no queue, slot held); HAProxy nbthread 1 beside it: GET / proxied vs GET /shed refused by `http-request deny` (503); ' +
      'for scale the bare proxy (GET / proxied) and a node:http server answering a fixed 503. ' +
      'cpuUsPerReq: that process\'s utime+stime over the run / responses. In the summary, each ratio is numeratorUsPerReq / denominatorUsPerReq (medians).',
    rows,
    summary,
    notes,
  };
}
