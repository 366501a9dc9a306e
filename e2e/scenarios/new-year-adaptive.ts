/**
 * new-year-adaptive: the 2020 New Year (sends ×5, message path 10 → 600 ms) against the plain
 * chat policy with no hand-tuned send budget: send-message keeps its static limit (200, queue
 * 200) as the starting point of an adaptive limit bounded by 1 and 200.
 * Pass: every other class keeps ≥ 99% success and its p99 within 1.5× of before; sends fail fast
 * (≤ 1% left hanging); within 10 s of the slowdown ending the send limit is back at what the
 * sends need (its value before the slowdown, or twice the most sends seen in flight in the
 * baseline if lower: an idle adaptive limit drifts down to that) and sends are no longer refused;
 * no session dropped.
 */
import type { TrafficPolicySpecInput } from '../../api/policy.js';
import { CHAT_APP, CHAT_CLASSES, CHAT_RATES, chatPolicy, chatSessions } from './chat-workload.js';
import { fmtPct, fmtRatio, ratio, refused, runInbound, unanswered, type InboundScenario } from './inbound.js';
import { criterion, type Criterion, type Scenario } from './types.js';

const SEND_FACTOR = 5;
const SLOW_MESSAGE_MS = 600;
const OTHERS = ['sync', 'login', 'background-login'];
const RECOVER_S = 10;

const THRESHOLDS = {
  full: { success: 0.99, p99: 1.5, p99SlackMs: 0, unanswered: 0.01 },
  quick: { success: 0.97, p99: 2, p99SlackMs: 150, unanswered: 0.03 },
};

const timing = (quick: boolean) => (quick ? { warm: 2, base: 4, storm: 7, after: 8 } : { warm: 3, base: 8, storm: 15, after: 12 });

function adaptivePolicy(): TrafficPolicySpecInput {
  const p = chatPolicy();
  for (const c of p.classes ?? []) {
    if (c.name === 'send-message') c.concurrency = { ...c.concurrency, adaptive: { minLimit: 1, maxLimit: 200 } };
  }
  return p;
}

const definition: InboundScenario = {
  name: 'new-year-adaptive',
  title: 'new-year-adaptive: sends ×5, message path 10 → 600 ms, adaptive send limit',
  app: CHAT_APP,
  policy: adaptivePolicy(),
  classes: CHAT_CLASSES,
  sessions: chatSessions(200, 2),
  phases: (quick) => {
    const t = timing(quick);
    return [
      { name: 'warm-up', durationMs: t.warm * 1000, rates: CHAT_RATES },
      { name: 'baseline', durationMs: t.base * 1000, rates: CHAT_RATES },
      { name: 'midnight', durationMs: t.storm * 1000, rates: { ...CHAT_RATES, 'send-message': CHAT_RATES['send-message'] * SEND_FACTOR } },
      { name: 'after', durationMs: t.after * 1000, rates: CHAT_RATES },
    ];
  },
  actions: (quick) => {
    const t = timing(quick);
    const latency = (ms: number) => async ({ app }: { app: { url: string } }) => {
      const res = await fetch(`${app.url}/_admin/message-latency?ms=${ms}`, { method: 'POST' });
      if (!res.ok) throw new Error(`message-latency switch answered ${res.status}`);
    };
    return [
      { at: t.warm + t.base, label: `messages ${SLOW_MESSAGE_MS} ms`, run: latency(SLOW_MESSAGE_MS) },
      { at: t.warm + t.base + t.storm, label: 'messages 10 ms', run: latency(CHAT_APP['message-ms']) },
    ];
  },
  gauges: (state) => {
    const c = state.classes.find((x) => x.name === 'send-message');
    const out: Record<string, number> = {};
    if (c) {
      out['send-message limit'] = c.limit;
      out['send-message in flight'] = c.inflight;
    }
    return out;
  },
  judge(run, quick) {
    const th = quick ? THRESHOLDS.quick : THRESHOLDS.full;
    const before = run.window(...run.phase('baseline'));
    const during = run.window(...run.phase('midnight'));
    const all = run.window(0, run.phase('after')[1]);
    const criteria: Criterion[] = [];
    const figures: Record<string, number | null> = {};
    for (const name of OTHERS) {
      const c = during.classes[name];
      const b = before.classes[name];
      const success = c.sent + c.droppedByClient > 0 ? c.succeeded / (c.sent + c.droppedByClient) : null;
      const p99 = ratio(c.p99, b.p99);
      const p99Ok = c.p99 !== null && b.p99 !== null && (c.p99 <= th.p99 * b.p99 || c.p99 <= b.p99 + th.p99SlackMs);
      figures[`${name}Success`] = success;
      figures[`${name}P99Ratio`] = p99;
      criteria.push(criterion(`${name} success`, `≥ ${fmtPct(th.success)}`, fmtPct(success), success !== null && success >= th.success));
      criteria.push(
        criterion(
          `${name} p99 during / before`,
          th.p99SlackMs > 0 ? `≤ ${th.p99}× or +${th.p99SlackMs} ms` : `≤ ${th.p99}×`,
          `${fmtRatio(p99)} (${b.p99?.toFixed(0) ?? '-'} → ${c.p99?.toFixed(0) ?? '-'} ms)`,
          p99Ok,
        ),
      );
    }
    const m = during.classes['send-message'];
    const offered = m.sent + m.droppedByClient;
    const hung = offered > 0 ? unanswered(m) / offered : null;
    figures.messageUnansweredShare = hung;
    criteria.push(criterion('sends left hanging (timed out)', `≤ ${fmtPct(th.unanswered)}`, fmtPct(hung), hung !== null && hung <= th.unanswered));
    // The limit before the slowdown (last baseline sample), its floor during it, and when it is back.
    const [stormAt, stormEnd] = run.phase('midnight');
    const limits = run.samples.filter((s) => s.extra?.['send-message limit'] !== undefined).map((s) => ({ t: s.t, v: s.extra?.['send-message limit'] as number }));
    const [baseFrom] = run.phase('baseline');
    const baselinePeak = run.samples
      .filter((s) => s.t >= baseFrom && s.t < stormAt)
      .reduce((a, s) => Math.max(a, s.extra?.['send-message in flight'] ?? 0), 0);
    const limitBefore = limits.filter((s) => s.t < stormAt).at(-1)?.v ?? null;
    const pre = limitBefore === null ? null : Math.min(limitBefore, Math.max(2, 2 * baselinePeak));
    const floor = limits.filter((s) => s.t >= stormAt && s.t < stormEnd).reduce((a, s) => Math.min(a, s.v), Infinity);
    const back = pre === null ? undefined : limits.find((s) => s.t >= stormEnd && s.v >= pre);
    const recoverS = back ? back.t - stormEnd : null;
    figures.sendLimitBefore = limitBefore;
    figures.sendLimitNeeded = pre;
    figures.sendPeakInFlightBaseline = baselinePeak;
    figures.sendLimitFloor = Number.isFinite(floor) ? floor : null;
    figures.sendLimitRecoverySeconds = recoverS;
    criteria.push(
      criterion(
        'send limit back to what sends need',
        `≤ ${RECOVER_S} s`,
        recoverS === null ? `not back (${pre ?? '-'} → floor ${Number.isFinite(floor) ? floor : '-'})` : `${recoverS.toFixed(1)} s (${pre} → ${floor} → ${back?.v})`,
        recoverS !== null && recoverS <= RECOVER_S,
      ),
    );
    // The last second after the slowdown in which a send was refused.
    const refusedAfter = run.report.seconds
      .map((s, t) => ({ t, n: s.classes['send-message'] ? refused(s.classes['send-message']) : 0 }))
      .filter((x) => x.t >= stormEnd && x.n > 0);
    const lastRefusal = refusedAfter.length > 0 ? (refusedAfter.at(-1)?.t ?? stormEnd) + 1 - stormEnd : 0;
    figures.sendRefusalsStopSeconds = lastRefusal;
    criteria.push(criterion('sends refused after the slowdown ends, for', `≤ ${RECOVER_S} s`, `${lastRefusal} s`, lastRefusal <= RECOVER_S));
    criteria.push(criterion('sessions dropped', '0', String(all.sessions.dropped), all.sessions.dropped === 0));
    figures.sessionsDropped = all.sessions.dropped;
    return {
      figures,
      criteria,
      note: `send-message at midnight: ${offered} offered, ${m.succeeded} delivered, ${unanswered(m)} left hanging; app backlog peak ${run.appStats.maxBacklogSeen}`,
    };
  },
};

export const newYearAdaptive: Scenario = {
  name: definition.name,
  title: definition.title,
  run: (opts) => runInbound(definition, opts),
};
