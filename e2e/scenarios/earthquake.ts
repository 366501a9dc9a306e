/**
 * earthquake (Kakao, 2016): a push wakes every phone, which logs in again in the background;
 * background logins jump ×15 while everything else stays as it was.
 * Pass: send-message goodput ≥ 99% of before, its p99 ≤ 2× before, no session dropped.
 */
import { CHAT_APP, CHAT_CLASSES, CHAT_RATES, chatPolicy, chatSessions } from './chat-workload.js';
import { fmtRatio, ratio, runInbound, type InboundScenario } from './inbound.js';
import { criterion, type Scenario } from './types.js';

const STORM_FACTOR = 15;
const SESSIONS = 200;

/** Quick runs are shorter, so one slow second weighs more: the thresholds are relaxed (docs/scenarios.md). */
const THRESHOLDS = {
  full: { goodput: 0.99, p99: 2, p99SlackMs: 0 },
  quick: { goodput: 0.95, p99: 3, p99SlackMs: 300 },
};

export const earthquakeDefinition: InboundScenario = {
  name: 'earthquake',
  title: 'earthquake: background logins ×15',
  app: CHAT_APP,
  policy: chatPolicy(),
  classes: CHAT_CLASSES,
  sessions: chatSessions(SESSIONS, 2),
  phases: (quick) => [
    { name: 'warm-up', durationMs: (quick ? 2 : 3) * 1000, rates: CHAT_RATES },
    { name: 'baseline', durationMs: (quick ? 4 : 6) * 1000, rates: CHAT_RATES },
    {
      name: 'earthquake',
      durationMs: (quick ? 6 : 12) * 1000,
      rates: { ...CHAT_RATES, 'background-login': CHAT_RATES['background-login'] * STORM_FACTOR },
    },
  ],
  judge(run, quick) {
    const th = quick ? THRESHOLDS.quick : THRESHOLDS.full;
    const before = run.window(...run.phase('baseline'));
    const during = run.window(...run.phase('earthquake'));
    const b = before.classes['send-message'];
    const d = during.classes['send-message'];
    const goodput = ratio(d.goodput, b.goodput);
    const p99 = ratio(d.p99, b.p99);
    const p99Ok = d.p99 !== null && b.p99 !== null && (d.p99 <= th.p99 * b.p99 || d.p99 <= b.p99 + th.p99SlackMs);
    const all = run.window(0, run.phase('earthquake')[1]);
    const bg = during.classes['background-login'];
    return {
      figures: {
        messageGoodputBefore: b.goodput,
        messageGoodputDuring: d.goodput,
        messageGoodputRatio: goodput,
        messageP99BeforeMs: b.p99,
        messageP99DuringMs: d.p99,
        messageP99Ratio: p99,
        backgroundLoginGoodputDuring: bg.goodput,
        sessionsDropped: all.sessions.dropped,
      },
      criteria: [
        criterion('message goodput during / before', `≥ ${th.goodput}`, fmtRatio(goodput), goodput !== null && goodput >= th.goodput),
        criterion(
          'message p99 during / before',
          th.p99SlackMs > 0 ? `≤ ${th.p99}× or +${th.p99SlackMs} ms` : `≤ ${th.p99}×`,
          `${fmtRatio(p99)} (${b.p99?.toFixed(0) ?? '-'} → ${d.p99?.toFixed(0) ?? '-'} ms)`,
          p99Ok,
        ),
        criterion('sessions dropped', '0', String(all.sessions.dropped), all.sessions.dropped === 0),
      ],
    };
  },
};

export const earthquake: Scenario = {
  name: earthquakeDefinition.name,
  title: earthquakeDefinition.title,
  run: (opts) => runInbound(earthquakeDefinition, opts),
};
