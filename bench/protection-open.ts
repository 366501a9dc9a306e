/**
 * Protection, open loop: /messages (40 closed-loop connections) alone, then during storms of
 * background logins arriving at fixed rates that step up. Every refusal costs the proxy CPU, so
 * past some rate its one core saturates and /messages suffers: the highest rate that still meets
 * the targets is the number reported.
 *
 * The verdict is issue 9's: the sidecar's highest such rate is at least HAProxy's (nbthread 1,
 * same run). A setup stops stepping up after two misses in a row (one miss may be noise on a
 * shared machine; two say the core is saturated), which keeps a run bounded.
 */
import type { BenchConfig } from './config.js';
import { CpuMeter, RunQueueMeter, sleep } from './procs.js';
import { messages, startRig, STORM_REQUEST, type Rig, type Setup } from './protection-setup.js';
import { median, round, type BenchReport, type Row } from './report.js';
import { BASELINE_ROOT, POLICY_B, policyNote, startOpenLoop } from './targets.js';

export const STORM_RATES = [1000, 2000, 4000, 8000, 16000];
const SETTLE_SEC = 2;
/** Misses in a row after which a setup stops stepping up. */
const MISSES_TO_STOP = 2;
const SETUPS: Setup[] = [
  'sidecar',
  'haproxy',
  ...(POLICY_B !== null ? (['sidecar-b'] as const) : []),
  ...(BASELINE_ROOT ? (['sidecar-baseline'] as const) : []),
];

function storm(rig: Rig, cfg: BenchConfig, rate: number, durationSec: number) {
  return startOpenLoop(
    {
      ...STORM_REQUEST,
      url: `http://127.0.0.1:${rig.port}${STORM_REQUEST.path}`,
      rate,
      durationMs: durationSec * 1000,
      maxSockets: 4000,
      timeoutMs: 5000,
    },
    cfg.loadCpus,
  );
}

async function measureSetup(setup: Setup, cfg: BenchConfig, run: number): Promise<Row[]> {
  const rows: Row[] = [];
  const rig = await startRig(setup, cfg);
  try {
    await messages(rig, cfg, 2, 'warmup');
    const pre = await messages(rig, cfg, cfg.durationSec);
    let misses = 0;
    for (const rate of STORM_RATES) {
      const gen = await storm(rig, cfg, rate, cfg.durationSec + SETTLE_SEC + 1);
      await sleep(SETTLE_SEC * 1000);
      const meter = new CpuMeter(rig.proxy ? [rig.proxy, gen.proc] : [gen.proc]);
      const queue = rig.proxy ? new RunQueueMeter(rig.proxy.pid) : null;
      const during = await messages(rig, cfg, cfg.durationSec);
      const cpu = meter.since();
      const waited = queue?.since();
      const s = await gen.result();
      const served = Object.entries(s.byStatus)
        .filter(([k]) => k.startsWith('2'))
        .reduce((a, [, n]) => a + n, 0);
      const refused = s.completed - served;
      const proxyCpu = rig.proxy ? cpu[rig.proxy.name] : null;
      const g = during.goodput / pre.goodput;
      const p = during.requests > 0 ? during.p99Ms / pre.p99Ms : Infinity; // nothing answered: no p99
      rows.push({
        setup,
        run,
        stormRate: rate,
        stormAchieved: round(s.achievedRate, 0),
        stormRefused: refused,
        stormServed: served,
        stormUnsent: s.unsent + s.errors + s.timeouts,
        preGoodput: round(pre.goodput, 0),
        stormGoodput: round(during.goodput, 0),
        goodputRatio: round(g, 3),
        preP99Ms: round(pre.p99Ms, 2),
        stormP99Ms: during.requests > 0 ? round(during.p99Ms, 2) : null,
        p99Ratio: Number.isFinite(p) ? round(p, 3) : null,
        proxyCores: proxyCpu ? round(proxyCpu.cores, 2) : null,
        proxyRunQueueWait: waited ? round(waited.waitShare, 2) : null,
        generatorCores: round(cpu['open-loop'].cores, 2),
        meets: g >= 0.98 && p <= 1.1 && s.unsent === 0 ? 'yes' : 'no',
      });
      misses = rows[rows.length - 1].meets === 'yes' ? 0 : misses + 1;
      if (misses >= MISSES_TO_STOP) break; // higher rates only fail harder: save the time
      await sleep(1000); // let the upstream's backlog drain before the next step
    }
  } catch (e) {
    rows.push({ setup, run, error: (e as Error).message.split('\n')[0] });
  } finally {
    await rig.stop();
  }
  return rows;
}

/**
 * The highest rate at which this setup met the targets in every run, and how many lower rates it
 * did not (an isolated miss below on a busy machine is noise; several say the number is not steady).
 */
function highestPassing(rows: Row[], setup: Setup, runs: number): { rate: number; missesBelow: number } {
  const met = (rate: number): boolean => {
    const at = rows.filter((r) => r.setup === setup && r.stormRate === rate);
    return at.length >= runs && at.every((r) => r.meets === 'yes');
  };
  const rate = Math.max(0, ...STORM_RATES.filter(met));
  return { rate, missesBelow: STORM_RATES.filter((r) => r < rate && !met(r)).length };
}

export async function protectionOpen(cfg: BenchConfig): Promise<BenchReport> {
  const rows: Row[] = [];
  for (let run = 1; run <= cfg.runs; run++) {
    // Alternate the order so slow drift on a shared machine does not favour one setup.
    for (const setup of run % 2 ? SETUPS : [...SETUPS].reverse()) rows.push(...(await measureSetup(setup, cfg, run)));
  }
  const summary: Row[] = [];
  for (const setup of SETUPS) {
    for (const rate of STORM_RATES) {
      const at = rows.filter((r) => r.setup === setup && r.stormRate === rate);
      if (at.length === 0) continue;
      const med = (k: string): number => median(at.map((r) => r[k] as number));
      summary.push({
        setup,
        stormRate: rate,
        goodputRatio: round(med('goodputRatio'), 3),
        p99Ratio: round(median(at.map((r) => (r.p99Ratio as number | null) ?? Infinity)), 3),
        proxyCores: round(med('proxyCores'), 2),
        runsMeeting: `${at.filter((r) => r.meets === 'yes').length}/${at.length}`,
      });
    }
  }
  const highest = new Map(SETUPS.map((setup) => [setup, highestPassing(rows, setup, cfg.runs)]));
  const top = STORM_RATES[STORM_RATES.length - 1];
  for (const setup of SETUPS) {
    const h = highest.get(setup)?.rate ?? 0;
    const ha = highest.get('haproxy')?.rate ?? 0;
    summary.push({
      setup,
      highestRateMeetingTargets: h,
      lowerRatesMissed: highest.get(setup)?.missesBelow ?? 0,
      // Issue 9: at least HAProxy's; both at the top step means the ladder, not the proxies, set the limit.
      verdict:
        setup === 'haproxy'
          ? `(reference${h === top ? ': reached the top step' : ''})`
          : `${h >= ha ? 'met' : 'MISSED'} (${h}/s against HAProxy's ${ha}/s)`,
    });
  }
  return {
    name: 'protection-open',
    description:
      `Same rig as "protection"; the storm is open loop (bench/open-loop.ts, its own process on the load CPU): ` +
      `POST /login background at ${STORM_RATES.join(', ')} per second, ${SETTLE_SEC} s before and during ${cfg.durationSec} s of /messages (wrk -c40). ` +
      `meets: goodputRatio ≥ 0.98, p99Ratio ≤ 1.10 and the generator kept its schedule; a setup stops stepping up after ${MISSES_TO_STOP} misses in a row. ` +
      'highestRateMeetingTargets: the highest rate met in every run (lowerRatesMissed: lower rates that were not: noise when isolated). ' +
      'Target (issue 9, pinned): the sidecar\'s highestRateMeetingTargets ≥ HAProxy nbthread 1\'s in the same run.',
    rows,
    summary,
    notes: policyNote(),
  };
}
