/**
 * Egress overhead (issue #4): CPU per request of one sidecar process for the same wrk load sent
 * through its egress port (`/bench/` → the route's one vendor) and through its inbound proxy
 * (`/` → the app), both ending at the same nginx fixed-body upstream. Same process, same
 * upstream, same wrk settings, order alternated between runs; also at one fixed open-loop rate.
 */
import type { BenchConfig } from './config.js';
import { startNginxUpstream } from './peers.js';
import { egressPolicy } from './policies.js';
import { CpuMeter, freePort, stopAll, type Proc } from './procs.js';
import { cpuRatioVerdict, median, round, type BenchReport, type Row } from './report.js';
import { startOpenLoop, startSidecar, type SidecarProc } from './targets.js';
import { failureSummary } from './open-loop.js';
import { runWrk } from './wrk.js';
import { FIXED_RATE } from './overhead.js';

const CONNECTIONS = 50;
const WARMUP_SEC = 2;

type Path = 'inbound' | 'egress';
const PATHS: Path[] = ['inbound', 'egress'];

async function measure(path: Path, cfg: BenchConfig, sidecar: SidecarProc, listen: number, run: number): Promise<Row> {
  const url = path === 'inbound' ? `http://127.0.0.1:${listen}/` : `http://127.0.0.1:${sidecar.egress}/bench/`;
  try {
    const wrk = { url, connections: CONNECTIONS, dir: cfg.dir, cpus: cfg.loadCpus };
    await runWrk({ ...wrk, durationSec: WARMUP_SEC, name: 'warmup' });
    const meter = new CpuMeter([sidecar]);
    const r = await runWrk({ ...wrk, durationSec: cfg.durationSec });
    const cpu = meter.since()[sidecar.name];
    const gen = await startOpenLoop({ url, rate: FIXED_RATE, durationMs: cfg.durationSec * 1000, maxSockets: 500 }, cfg.loadCpus);
    const fixedMeter = new CpuMeter([sidecar]);
    const fixed = await gen.result();
    const fixedCpu = fixedMeter.since()[sidecar.name];
    return {
      path,
      run,
      rps: round(r.rps, 0),
      p50Ms: round(r.p50Ms),
      p99Ms: round(r.p99Ms),
      non2xx: r.non2xx + r.socketErrors,
      cpuUsPerReq: round(cpu.cpuUs / r.requests, 2),
      cores: round(cpu.cores, 2),
      cpuUsPerReqFixedRate: round(fixedCpu.cpuUs / Math.max(fixed.completed, 1), 2),
      fixedRateFailed: fixed.scheduled - (fixed.byStatus['200'] ?? 0),
      fixedRateFailures: failureSummary(fixed),
    };
  } catch (e) {
    return { path, run, error: (e as Error).message.split('\n')[0] };
  }
}

export async function egressOverhead(cfg: BenchConfig): Promise<BenchReport> {
  const rows: Row[] = [];
  for (let run = 1; run <= cfg.runs; run++) {
    const procs: Proc[] = [];
    try {
      const upstreamPort = await freePort();
      procs.push(await startNginxUpstream(cfg.dir, upstreamPort, cfg.loadCpus));
      const listen = await freePort();
      const sidecar = await startSidecar({
        dir: cfg.dir,
        policyYaml: egressPolicy(`http://127.0.0.1:${upstreamPort}`),
        listen,
        upstreamPort,
        cpus: cfg.proxyCpus,
      });
      procs.push(sidecar);
      const order = run % 2 ? PATHS : [...PATHS].reverse();
      for (const p of order) rows.push(await measure(p, cfg, sidecar, listen, run));
    } finally {
      await stopAll(procs.reverse());
    }
  }
  const med = (p: Path, k: string): number =>
    median(rows.filter((r) => r.path === p && typeof r[k] === 'number').map((r) => r[k] as number));
  const ratio = med('egress', 'cpuUsPerReq') / med('inbound', 'cpuUsPerReq');
  const fixedRatio = med('egress', 'cpuUsPerReqFixedRate') / med('inbound', 'cpuUsPerReqFixedRate');
  const summary: Row[] = PATHS.map((p) => ({
    path: p,
    rps: round(med(p, 'rps'), 0),
    p99Ms: round(med(p, 'p99Ms')),
    cpuUsPerReq: round(med(p, 'cpuUsPerReq'), 2),
    cpuUsPerReqFixedRate: round(med(p, 'cpuUsPerReqFixedRate'), 2),
  }));
  summary.push({
    path: 'TARGET egress/inbound CPU per request ≤ 1.15',
    cpuUsPerReq: round(ratio, 2),
    cpuUsPerReqFixedRate: round(fixedRatio, 2),
    verdict: cpuRatioVerdict(ratio, fixedRatio, 1.15),
  });
  return {
    name: 'egress-overhead',
    description:
      `One sidecar; wrk -t1 -c${CONNECTIONS} -d${cfg.durationSec}s GET (after a ${WARMUP_SEC} s warm-up) through its inbound port (/ → app) ` +
      'and through its egress port (/bench/ → the route\'s one vendor), both to the same nginx fixed-body upstream. ' +
      `cpuUsPerReq: the sidecar's utime+stime over the run / requests; cpuUsPerReqFixedRate: the same over ${cfg.durationSec} s ` +
      `of open-loop GET at ${FIXED_RATE}/s.`,
    rows,
    summary,
    notes: [],
  };
}
