/**
 * noisy-neighbour: ten tenants share one class (POST /login, 12 slots, fairness by the
 * x-tenant header); nine send 4/s each, one sends ten times that (together more than the class
 * serves, each quiet one within its share).
 * Pass: alone, the noisy tenant gets all the idle capacity it asks for (well over its fair share);
 * with the others sending, none of the nine quiet tenants is refused and none waits long for a
 * slot (p99 within one service time of the noisy tenant's alone), so the noisy one holds only
 * what they leave (its max-min fair share) and takes the refusals itself. Its slots are also
 * estimated (Little's law, goodput × service time) and reported, not judged: the estimate is
 * good to about 10-20 %.
 */
import type { RequestClass } from '../loadgen/index.js';
import { CHAT_APP } from './chat-workload.js';
import { fmtPct, refused, runInbound, type InboundScenario } from './inbound.js';
import { criterion, type Scenario } from './types.js';

const LIMIT = 12;
const QUIET_RATE = 4;
const NOISY_RATE = 10 * QUIET_RATE;
const QUIET = Array.from({ length: 9 }, (_, i) => `tenant-${i + 1}`);
const NOISY = 'tenant-noisy';

const THRESHOLDS = {
  full: { quietRefused: 0, aloneShare: 0.95, waitSlackMs: 0 },
  quick: { quietRefused: 0.01, aloneShare: 0.9, waitSlackMs: 150 },
};

const timing = (quick: boolean) => (quick ? { warm: 2, alone: 5, shared: 8 } : { warm: 3, alone: 10, shared: 15 });

const tenant = (name: string): RequestClass => ({
  name,
  method: 'POST',
  path: '/login',
  headers: { 'content-type': 'application/json', 'x-tenant': name },
  body: '{}',
});

const quietRates = Object.fromEntries(QUIET.map((q) => [q, QUIET_RATE]));

const definition: InboundScenario = {
  name: 'noisy-neighbour',
  title: 'noisy-neighbour: ten tenants in one class, one sending 10×',
  app: { ...CHAT_APP, 'load-factor': 0.5 },
  policy: {
    targetRef: { kind: 'Deployment', name: 'chat' },
    classes: [
      {
        name: 'login',
        match: [{ method: 'POST', path: '/login' }],
        concurrency: { limit: LIMIT },
        queue: { size: 2 * LIMIT, timeoutMs: 1000 },
        fairness: { header: 'x-tenant' },
        timeoutMs: 3000,
      },
    ],
    defaultClass: { concurrency: { limit: 10 } },
  },
  classes: [tenant(NOISY), ...QUIET.map(tenant)],
  phases: (quick) => {
    const t = timing(quick);
    return [
      { name: 'warm-up', durationMs: t.warm * 1000, rates: { [NOISY]: NOISY_RATE } },
      { name: 'alone', durationMs: t.alone * 1000, rates: { [NOISY]: NOISY_RATE } },
      { name: 'shared', durationMs: t.shared * 1000, rates: { [NOISY]: NOISY_RATE, ...quietRates } },
    ];
  },
  gauges: (state) => {
    const out: Record<string, number> = {};
    const c = state.classes.find((x) => x.name === 'login');
    if (c) {
      out['login in flight'] = c.inflight;
      out['login queued'] = c.queued;
    }
    return out;
  },
  judge(run, quick) {
    const th = quick ? THRESHOLDS.quick : THRESHOLDS.full;
    const alone = run.window(...run.phase('alone'));
    const shared = run.window(...run.phase('shared'));
    const a = alone.classes[NOISY];
    const aloneOffered = a.sent + a.droppedByClient;
    const aloneShare = aloneOffered > 0 ? a.succeeded / aloneOffered : null;
    // Slots held ≈ goodput × service time (Little's law). The service time is the noisy tenant's
    // median latency alone, when it asks for fewer slots than the class has and never waits.
    const svc = (a.p50 ?? 0) / 1000;
    const aloneSlots = a.goodput * svc;
    const service = (): number => svc;
    let quietOffered = 0;
    let quietRefused = 0;
    let quietSlots = 0;
    for (const q of QUIET) {
      const c = shared.classes[q];
      quietOffered += c.sent + c.droppedByClient;
      quietRefused += refused(c) + c.timeouts;
      quietSlots += c.goodput * service();
    }
    const n = shared.classes[NOISY];
    const noisySlots = n.goodput * service();
    const leftOver = LIMIT - quietSlots;
    const quietShare = quietOffered > 0 ? quietRefused / quietOffered : null;
    const quietP99 = QUIET.reduce<number | null>((m, q) => {
      const p = shared.classes[q].p99;
      return p === null ? m : Math.max(m ?? 0, p);
    }, null);
    const noisyOffered = n.sent + n.droppedByClient;
    return {
      figures: {
        noisyAloneSuccessShare: aloneShare,
        noisyAloneSlots: aloneSlots,
        fairShareSlots: LIMIT / (QUIET.length + 1),
        quietRefusedShare: quietShare,
        quietSlots,
        noisySharedSlots: noisySlots,
        slotsLeftByQuiet: leftOver,
        quietP99Ms: quietP99,
        noisySharedRefusedShare: noisyOffered > 0 ? refused(n) / noisyOffered : null,
      },
      criteria: [
        criterion('noisy tenant alone: served', `≥ ${fmtPct(th.aloneShare)}`, `${fmtPct(aloneShare)} (${aloneSlots.toFixed(1)} slots)`, aloneShare !== null && aloneShare >= th.aloneShare),
        criterion(
          'noisy tenant alone: slots over its fair share',
          '> 3×',
          `${(aloneSlots / (LIMIT / (QUIET.length + 1))).toFixed(1)}×`,
          aloneSlots > 3 * (LIMIT / (QUIET.length + 1)),
        ),
        criterion('quiet tenants refused or timed out', th.quietRefused === 0 ? '0' : `≤ ${fmtPct(th.quietRefused)}`, `${quietRefused} (${fmtPct(quietShare)})`, quietShare !== null && quietShare <= th.quietRefused),
        criterion(
          'quiet tenants p99 when shared',
          th.waitSlackMs > 0 ? `≤ 2× noisy alone p99 + ${th.waitSlackMs} ms` : '≤ 2× noisy alone p99',
          `${quietP99?.toFixed(0) ?? '-'} ms (noisy alone ${a.p99?.toFixed(0) ?? '-'} ms)`,
          quietP99 !== null && a.p99 !== null && quietP99 <= 2 * a.p99 + th.waitSlackMs,
        ),
        criterion('noisy tenant refused when shared', '> 0', String(refused(n)), refused(n) > 0),
      ],
      note: `shared: quiet tenants hold ${quietSlots.toFixed(1)} slots, the noisy one ${noisySlots.toFixed(1)} and gets ${refused(n)} of ${noisyOffered} refused`,
    };
  },
};

export const noisyNeighbour: Scenario = {
  name: definition.name,
  title: definition.title,
  run: (opts) => runInbound(definition, opts),
};
