/**
 * new-year (Kakao, New Year's Eve): at midnight message sends jump ×5 and the message path's
 * dependency slows from 10 ms to 600 ms (the chat app's admin switch).
 * Pass: every other class keeps ≥ 99% success, the excess sends fail fast instead of piling up
 * (no send left unanswered at the client timeout, no backlog of waiting work in the app), no
 * session dropped.
 */
import { CHAT_APP, CHAT_CLASSES, CHAT_RATES, chatPolicy, chatSessions } from './chat-workload.js';
import { fmtPct, runInbound, unanswered, type InboundScenario } from './inbound.js';
import { criterion, type Criterion, type Scenario } from './types.js';

const SEND_FACTOR = 5;
const SLOW_MESSAGE_MS = 600;
const OTHERS = ['sync', 'login', 'background-login'];
/** A backlog longer than the pool is work waiting behind slow messages: a pile-up. */
const BACKLOG_LIMIT = CHAT_APP.workers;

const THRESHOLDS = {
  full: { success: 0.99, unanswered: 0.01 },
  quick: { success: 0.97, unanswered: 0.03 },
};

const timing = (quick: boolean): { warm: number; base: number; storm: number } =>
  quick ? { warm: 2, base: 3, storm: 7 } : { warm: 3, base: 6, storm: 15 };

const definition: InboundScenario = {
  name: 'new-year',
  title: 'new-year: sends ×5, message path 10 → 600 ms',
  app: CHAT_APP,
  // Messages get a quarter of the workers (and a short queue), so a slow message path cannot take the rest.
  policy: chatPolicy({ limit: 12, queueSize: 12, queueMs: 100 }),
  classes: CHAT_CLASSES,
  sessions: chatSessions(200, 2),
  phases: (quick) => {
    const t = timing(quick);
    return [
      { name: 'warm-up', durationMs: t.warm * 1000, rates: CHAT_RATES },
      { name: 'baseline', durationMs: t.base * 1000, rates: CHAT_RATES },
      { name: 'midnight', durationMs: t.storm * 1000, rates: { ...CHAT_RATES, 'send-message': CHAT_RATES['send-message'] * SEND_FACTOR } },
    ];
  },
  actions: (quick) => {
    const t = timing(quick);
    return [
      {
        at: t.warm + t.base,
        label: `messages ${SLOW_MESSAGE_MS} ms`,
        run: async ({ app }) => {
          const res = await fetch(`${app.url}/_admin/message-latency?ms=${SLOW_MESSAGE_MS}`, { method: 'POST' });
          if (!res.ok) throw new Error(`message-latency switch answered ${res.status}`);
        },
      },
    ];
  },
  judge(run, quick) {
    const th = quick ? THRESHOLDS.quick : THRESHOLDS.full;
    const during = run.window(...run.phase('midnight'));
    const all = run.window(0, run.phase('midnight')[1]);
    const criteria: Criterion[] = [];
    const figures: Record<string, number | null> = {};
    for (const name of OTHERS) {
      const c = during.classes[name];
      const success = c.sent + c.droppedByClient > 0 ? c.succeeded / (c.sent + c.droppedByClient) : null;
      figures[`${name}Success`] = success;
      criteria.push(criterion(`${name} success`, `≥ ${fmtPct(th.success)}`, fmtPct(success), success !== null && success >= th.success));
    }
    const m = during.classes['send-message'];
    const offered = m.sent + m.droppedByClient;
    const hung = offered > 0 ? unanswered(m) / offered : null;
    figures.messageOffered = offered;
    figures.messageSucceeded = m.succeeded;
    figures.messageUnansweredShare = hung;
    figures.messageP99Ms = m.p99;
    criteria.push(criterion('sends left hanging (timed out)', `≤ ${fmtPct(th.unanswered)}`, fmtPct(hung), hung !== null && hung <= th.unanswered));
    criteria.push(
      criterion('app backlog peak', `≤ ${BACKLOG_LIMIT}`, String(run.appStats.maxBacklogSeen), run.appStats.maxBacklogSeen <= BACKLOG_LIMIT),
    );
    criteria.push(criterion('sessions dropped', '0', String(all.sessions.dropped), all.sessions.dropped === 0));
    figures.sessionsDropped = all.sessions.dropped;
    return {
      figures,
      criteria,
      note: `send-message at midnight: ${offered} offered, ${m.succeeded} delivered, ${offered - m.succeeded - unanswered(m)} refused, ${unanswered(m)} left hanging`,
    };
  },
};

export const newYear: Scenario = {
  name: definition.name,
  title: definition.title,
  run: (opts) => runInbound(definition, opts),
};
