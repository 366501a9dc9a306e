/**
 * Overhead: the same wrk load (fixed connections, fixed duration, GET /) straight to an nginx
 * fixed-body upstream and through each proxy, one at a time in the same run. CPU per request is
 * the proxy process's utime+stime delta over the measured run divided by the requests wrk counted.
 *
 * wrk runs each proxy at its own maximum, and a process doing more requests per event-loop turn
 * spends less CPU on each, so the proxies are also compared at one fixed open-loop rate that
 * all of them sustain (cpuUsPerReqFixedRate): same work per second, same batching.
 *
 * The verdict is issue 9's: the sidecar's CPU per proxied request ≤ 1.5× HAProxy's (nbthread 1)
 * in the same run; the ratios to the bare Node proxy (issue 2's yardstick) stay as information.
 */
import type { BenchConfig } from './config.js';
import { startHaproxy, startNginxProxy, startNginxUpstream } from './peers.js';
import { OVERHEAD_POLICY } from './policies.js';
import { CpuMeter, freePort, stopAll, type Proc } from './procs.js';
import { cpuRatioVerdict, median, round, type BenchReport, type Row } from './report.js';
import { POLICY_AB_LIMIT, POLICY_B, policyNote, sidecarPolicy, startBareProxy, startOpenLoop, startSidecar } from './targets.js';
import { failureSummary } from './open-loop.js';
import { runWrk } from './wrk.js';

const CONNECTIONS = 50;
const WARMUP_SEC = 2;
/** Requests per second every target sustains here, even on a shared machine. */
export const FIXED_RATE = 500;

/** Issue 9: the sidecar's CPU per proxied request / HAProxy's. */
export const HAPROXY_CPU_LIMIT = 1.5;

type Target = 'direct' | 'haproxy' | 'nginx' | 'bare-proxy' | 'sidecar' | 'sidecar-b';
const TARGETS: Target[] = ['direct', 'haproxy', 'nginx', 'bare-proxy', 'sidecar', ...(POLICY_B !== null ? (['sidecar-b'] as const) : [])];

async function startTarget(t: Target, cfg: BenchConfig, listen: number, upstreamPort: number): Promise<Proc | null> {
  switch (t) {
    case 'direct':
      return null;
    case 'haproxy':
      return startHaproxy(cfg.dir, listen, upstreamPort, cfg.proxyCpus);
    case 'nginx':
      return startNginxProxy(cfg.dir, listen, upstreamPort, cfg.proxyCpus);
    case 'bare-proxy':
      return startBareProxy(listen, upstreamPort, cfg.proxyCpus);
    case 'sidecar':
      return startSidecar({ dir: cfg.dir, policyYaml: sidecarPolicy(OVERHEAD_POLICY), listen, upstreamPort, cpus: cfg.proxyCpus });
    case 'sidecar-b':
      return startSidecar({ dir: cfg.dir, policyYaml: sidecarPolicy(OVERHEAD_POLICY, 'b'), listen, upstreamPort, cpus: cfg.proxyCpus });
  }
}

async function measure(t: Target, cfg: BenchConfig, upstream: Proc, upstreamPort: number, run: number): Promise<Row> {
  const listen = await freePort();
  let proxy: Proc | null = null;
  try {
    proxy = await startTarget(t, cfg, listen, upstreamPort);
    const port = proxy ? listen : upstreamPort;
    const measured = proxy ?? upstream;
    const wrk = { url: `http://127.0.0.1:${port}/`, connections: CONNECTIONS, dir: cfg.dir, cpus: cfg.loadCpus };
    await runWrk({ ...wrk, durationSec: WARMUP_SEC, name: 'warmup' });
    const meter = new CpuMeter([measured]);
    const r = await runWrk({ ...wrk, durationSec: cfg.durationSec });
    const cpu = meter.since()[measured.name];
    const gen = await startOpenLoop({ url: wrk.url, rate: FIXED_RATE, durationMs: cfg.durationSec * 1000, maxSockets: 500 }, cfg.loadCpus);
    const fixedMeter = new CpuMeter([measured]);
    const fixed = await gen.result();
    const fixedCpu = fixedMeter.since()[measured.name];
    return {
      target: t,
      run,
      rps: round(r.rps, 0),
      p50Ms: round(r.p50Ms),
      p99Ms: round(r.p99Ms),
      non2xx: r.non2xx + r.socketErrors,
      cpuUsPerReq: round(cpu.cpuUs / r.requests, 2),
      cores: round(cpu.cores, 2),
      cpuUsPerReqFixedRate: round(fixedCpu.cpuUs / Math.max(fixed.completed, 1), 2),
      fixedRateP99Ms: round(fixed.p99Ms),
      fixedRateFailed: fixed.scheduled - (fixed.byStatus['200'] ?? 0),
      fixedRateFailures: failureSummary(fixed),
      measured: measured.name,
    };
  } catch (e) {
    return { target: t, run, error: (e as Error).message.split('\n')[0] };
  } finally {
    if (proxy) await proxy.stop();
  }
}

export async function overhead(cfg: BenchConfig): Promise<BenchReport> {
  const rows: Row[] = [];
  for (let run = 1; run <= cfg.runs; run++) {
    const upstreamPort = await freePort();
    const upstream = await startNginxUpstream(cfg.dir, upstreamPort, cfg.loadCpus);
    try {
      // Alternate the order so slow drift on a shared machine does not favour one target.
      const order = run % 2 ? TARGETS : [...TARGETS].reverse();
      for (const t of order) rows.push(await measure(t, cfg, upstream, upstreamPort, run));
    } finally {
      await stopAll([upstream]);
    }
  }
  const med = (t: Target, k: string): number =>
    median(rows.filter((r) => r.target === t && typeof r[k] === 'number').map((r) => r[k] as number));
  const summary: Row[] = TARGETS.map((t) => ({
    target: t,
    rps: round(med(t, 'rps'), 0),
    p50Ms: round(med(t, 'p50Ms')),
    p99Ms: round(med(t, 'p99Ms')),
    cpuUsPerReq: round(med(t, 'cpuUsPerReq'), 2),
    cpuVsHaproxy: round(med(t, 'cpuUsPerReq') / med('haproxy', 'cpuUsPerReq'), 2),
    cpuUsPerReqFixedRate: round(med(t, 'cpuUsPerReqFixedRate'), 2),
    fixedRateVsHaproxy: round(med(t, 'cpuUsPerReqFixedRate') / med('haproxy', 'cpuUsPerReqFixedRate'), 2),
    cpuVsBare: round(med(t, 'cpuUsPerReq') / med('bare-proxy', 'cpuUsPerReq'), 2),
    fixedRateVsBare: round(med(t, 'cpuUsPerReqFixedRate') / med('bare-proxy', 'cpuUsPerReqFixedRate'), 2),
  }));
  const vsHaproxy = (t: Target): Row => {
    const ratio = med(t, 'cpuUsPerReq') / med('haproxy', 'cpuUsPerReq');
    const fixedRatio = med(t, 'cpuUsPerReqFixedRate') / med('haproxy', 'cpuUsPerReqFixedRate');
    return {
      target: `TARGET ${t}/haproxy CPU per proxied request ≤ ${HAPROXY_CPU_LIMIT}`,
      cpuVsHaproxy: round(ratio, 2),
      fixedRateVsHaproxy: round(fixedRatio, 2),
      verdict: cpuRatioVerdict(ratio, fixedRatio, HAPROXY_CPU_LIMIT),
    };
  };
  summary.push(vsHaproxy('sidecar'));
  if (TARGETS.includes('sidecar-b')) {
    summary.push(vsHaproxy('sidecar-b'));
    const ab = med('sidecar-b', 'cpuUsPerReq') / med('sidecar', 'cpuUsPerReq');
    const abFixed = med('sidecar-b', 'cpuUsPerReqFixedRate') / med('sidecar', 'cpuUsPerReqFixedRate');
    summary.push({
      target: `policy A/B: sidecar-b/sidecar CPU per proxied request ≤ ${POLICY_AB_LIMIT}`,
      bVsA: round(ab, 3),
      bVsAFixedRate: round(abFixed, 3),
      verdict: cpuRatioVerdict(ab, abFixed, POLICY_AB_LIMIT),
    });
  }
  return {
    name: 'overhead',
    description:
      `wrk -t1 -c${CONNECTIONS} -d${cfg.durationSec}s GET / (after a ${WARMUP_SEC} s warm-up) to an nginx fixed-body upstream, ` +
      `directly and through each proxy; proxy pinned to CPU ${cfg.proxyCpus ?? '-'}, wrk and upstream to CPU ${cfg.loadCpus ?? '-'}. ` +
      'cpuUsPerReq: the proxy process utime+stime over the run / requests ("direct": the upstream\'s own). ' +
      `cpuUsPerReqFixedRate: the same over ${cfg.durationSec} s of open-loop GET / at ${FIXED_RATE}/s (bench/open-loop.ts).`,
    rows,
    summary,
    notes: policyNote(),
  };
}
