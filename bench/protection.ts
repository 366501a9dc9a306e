/**
 * Protection, closed loop: /messages alone (pre-storm), then /messages during a storm of
 * background logins from 400 closed-loop connections, for each setup. The goodput and p99
 * ratios (storm / pre-storm) are what the targets are about.
 */
import type { BenchConfig } from './config.js';
import { CpuMeter, RunQueueMeter, sleep } from './procs.js';
import { messages, startRig, STORM_REQUEST, type Setup } from './protection-setup.js';
import { median, round, type BenchReport, type Row } from './report.js';
import { BASELINE_ROOT, POLICY_B, policyNote } from './targets.js';
import { startWrk, type WrkResult } from './wrk.js';

const STORM_CONNECTIONS = 400;
const SETTLE_SEC = 2;
const ALL_SETUPS: Setup[] = [
  'none',
  'haproxy',
  'bare-proxy',
  'sidecar',
  ...(POLICY_B !== null ? (['sidecar-b'] as const) : []),
  ...(BASELINE_ROOT ? (['sidecar-baseline'] as const) : []),
];
/** SPILLWAY_BENCH_SETUPS=sidecar,haproxy: only these setups (e.g. to profile one). Default: all (issue 9 needs haproxy beside sidecar). */
const ONLY = (process.env.SPILLWAY_BENCH_SETUPS ?? '').split(',').filter((x) => x !== '');
const SETUPS = ONLY.length === 0 ? ALL_SETUPS : ALL_SETUPS.filter((s) => ONLY.includes(s));

/**
 * SPILLWAY_BENCH_PAIRS=N (default 1): N alternating pre-storm/storm window pairs per setup, the
 * ratios taken between the means. On a busy machine one pre-storm window 8 s before one storm
 * window compares two different shares of the CPU; alternating spreads that over both sides.
 */
const PAIRS = Math.max(1, Number(process.env.SPILLWAY_BENCH_PAIRS ?? 1) || 1);

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

async function measure(setup: Setup, cfg: BenchConfig, run: number): Promise<Row> {
  const rig = await startRig(setup, cfg);
  try {
    await messages(rig, cfg, 2, 'warmup');
    const pre: WrkResult[] = [];
    const during: WrkResult[] = [];
    const storms: WrkResult[] = [];
    let cpuUs = 0;
    let wallSec = 0;
    let upstreamCores = 0;
    let runMs = 0;
    let waitMs = 0;
    for (let i = 0; i < PAIRS; i++) {
      pre.push(await messages(rig, cfg, cfg.durationSec));
      const storm = await startWrk({
        ...STORM_REQUEST,
        url: `http://127.0.0.1:${rig.port}/`,
        connections: STORM_CONNECTIONS,
        durationSec: cfg.durationSec + SETTLE_SEC + 2,
        dir: cfg.dir,
        cpus: cfg.loadCpus,
        name: 'storm',
      });
      await sleep(SETTLE_SEC * 1000);
      const meter = new CpuMeter(rig.proxy ? [rig.proxy, rig.upstream] : [rig.upstream]);
      const queue = rig.proxy ? new RunQueueMeter(rig.proxy.pid) : null;
      during.push(await messages(rig, cfg, cfg.durationSec));
      const cpu = meter.since();
      const waited = queue?.since();
      if (rig.proxy) cpuUs += cpu[rig.proxy.name].cpuUs;
      wallSec += cfg.durationSec;
      upstreamCores += cpu[rig.upstream.name].cores / PAIRS;
      runMs += waited?.runMs ?? 0;
      waitMs += waited?.waitMs ?? 0;
      storms.push(await storm.result());
    }
    const preGoodput = mean(pre.map((r) => r.goodput));
    const stormGoodput = mean(during.map((r) => r.goodput));
    const preP99 = mean(pre.map((r) => r.p99Ms));
    const answered = during.every((r) => r.requests > 0);
    const stormP99 = mean(during.map((r) => r.p99Ms));
    const stormSec = storms.reduce((a, r) => a + r.durationSec, 0);
    return {
      setup,
      run,
      preGoodput: round(preGoodput, 0),
      preP99Ms: round(preP99, 2),
      stormGoodput: round(stormGoodput, 0),
      stormP99Ms: answered ? round(stormP99, 2) : null,
      goodputRatio: round(stormGoodput / preGoodput, 3),
      // A storm window with no /messages answered at all: there is no p99 to compare.
      p99Ratio: answered ? round(stormP99 / preP99, 3) : null,
      stormRps: round(storms.reduce((a, r) => a + r.requests, 0) / stormSec, 0),
      stormRefused: round(storms.reduce((a, r) => a + r.non2xx, 0) / stormSec, 0),
      stormServed: round(mean(storms.map((r) => r.goodput)), 0),
      proxyCores: rig.proxy ? round(cpuUs / 1e6 / wallSec, 2) : null,
      // Share of the time the proxy's main thread was runnable but waited for a CPU: the machine, not the proxy.
      proxyRunQueueWait: rig.proxy && runMs + waitMs > 0 ? round(waitMs / (runMs + waitMs), 2) : null,
      upstreamCores: round(upstreamCores, 2),
    };
  } catch (e) {
    return { setup, run, error: (e as Error).message.split('\n')[0] };
  } finally {
    await rig.stop();
  }
}

export async function protection(cfg: BenchConfig): Promise<BenchReport> {
  const rows: Row[] = [];
  for (let run = 1; run <= cfg.runs; run++) {
    for (const setup of run % 2 ? SETUPS : [...SETUPS].reverse()) rows.push(await measure(setup, cfg, run));
  }
  const med = (setup: Setup, k: string): number =>
    median(rows.filter((r) => r.setup === setup && typeof r[k] === 'number').map((r) => r[k] as number));
  const summary: Row[] = SETUPS.map((setup) => {
    const g = med(setup, 'goodputRatio');
    // A run with no /messages answered counts as an infinite p99 ratio.
    const p = median(rows.filter((r) => r.setup === setup && 'p99Ratio' in r).map((r) => (r.p99Ratio as number | null) ?? Infinity));
    const measured = Number.isFinite(g) && !Number.isNaN(p);
    const meets = g >= 0.98 && p <= 1.1 ? 'met' : 'MISSED';
    return {
      setup,
      goodputRatio: round(g, 3),
      p99Ratio: round(p, 3),
      proxyCores: setup === 'none' ? null : round(med(setup, 'proxyCores'), 2),
      coresVsHaproxy: setup === 'none' ? null : round(med(setup, 'proxyCores') / med('haproxy', 'proxyCores'), 2),
      // Issue 9's target is the sidecar's; HAProxy's own verdict is the reference it is read against.
      verdict: !measured ? 'not measured' : setup === 'none' || setup === 'bare-proxy' ? `(no budgets: ${meets})` : setup === 'haproxy' ? `(reference: ${meets})` : meets,
    };
  });
  return {
    name: 'protection',
    description:
      `Upstream: 100 slots × 20 ms, FIFO backlog. /messages: wrk -c40 POST, ${cfg.durationSec} s alone, then ${cfg.durationSec} s ` +
      `during a ${STORM_CONNECTIONS}-connection closed-loop storm (${PAIRS} such pair(s), ratios of the means) of POST /login x-login-kind: background (started ${SETTLE_SEC} s before). ` +
      'HAProxy and sidecar: 20 background logins, 80 messages, 100 ms queue timeout; bare-proxy: no budgets (the cost of a Node hop alone). ' +
      'Target (issue 9, pinned): the sidecar keeps goodputRatio ≥ 0.98 and p99Ratio ≤ 1.10, HAProxy nbthread 1 beside it in the same run. ' +
      'proxyCores: the proxy\'s CPU during the storm window, in cores (coresVsHaproxy: / HAProxy\'s).',
    rows,
    summary,
    notes: [...policyNote(), ...(ONLY.length > 0 ? [`only the setups ${SETUPS.join(', ')} (SPILLWAY_BENCH_SETUPS)`] : [])],
  };
}
