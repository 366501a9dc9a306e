/**
 * borrowing: priority that means something. In quiet time background logins (priority 10, limit
 * 10, borrow up to 30) use the slots /messages (priority 90, limit 30) leaves idle; when
 * /messages surges it gets its budget back as borrowed logins finish, without a refusal.
 * Pass: in quiet time background logins get well over what their own limit allows; in the surge
 * no send is refused, and a send waits for its slot at most one background-login service time
 * (send p99 ≤ send p50 + background-login p99 in the surge).
 */
import { CHAT_APP, CHAT_CLASSES } from './chat-workload.js';
import { fmtPct, refused, runInbound, type InboundScenario } from './inbound.js';
import { criterion, type Scenario } from './types.js';

const BG_LIMIT = 10;
/** The app's background login service time at the quiet-time load (ms): its own limit's goodput is BG_LIMIT / this. */
const BG_SERVICE_MS = 200;

const THRESHOLDS = {
  full: { borrowGain: 1.5, sendRefused: 0, p99SlackMs: 0 },
  quick: { borrowGain: 1.3, sendRefused: 0.01, p99SlackMs: 150 },
};

const timing = (quick: boolean) => (quick ? { warm: 2, quiet: 5, surge: 6 } : { warm: 3, quiet: 10, surge: 12 });

const CLASSES = CHAT_CLASSES.filter((c) => c.name === 'send-message' || c.name === 'background-login');
const QUIET = { 'send-message': 20, 'background-login': 100 };
const SURGE = { 'send-message': 120, 'background-login': 100 };

const definition: InboundScenario = {
  name: 'borrowing',
  title: 'borrowing: idle /messages slots lent to background logins, given back in a surge',
  // Sends take 100 ms here so a surge fills their budget; a light load factor keeps service times readable.
  app: { ...CHAT_APP, 'message-ms': 100, 'load-factor': 0.5 },
  policy: {
    targetRef: { kind: 'Deployment', name: 'chat' },
    classes: [
      {
        name: 'background-login',
        match: [{ method: 'POST', path: '/login', headers: { 'x-login-kind': 'background' } }],
        priority: 10,
        concurrency: { limit: BG_LIMIT, borrow: { max: 30 } },
        timeoutMs: 3000,
      },
      {
        name: 'send-message',
        match: [{ method: 'POST', pathPrefix: '/messages' }],
        priority: 90,
        concurrency: { limit: 30 },
        queue: { size: 30, timeoutMs: 1000 },
        timeoutMs: 5000,
      },
    ],
    defaultClass: { priority: 50, concurrency: { limit: 10 } },
  },
  classes: CLASSES,
  phases: (quick) => {
    const t = timing(quick);
    return [
      { name: 'warm-up', durationMs: t.warm * 1000, rates: QUIET },
      { name: 'quiet', durationMs: t.quiet * 1000, rates: QUIET },
      { name: 'surge', durationMs: t.surge * 1000, rates: SURGE },
    ];
  },
  gauges: (state) => {
    const out: Record<string, number> = {};
    for (const c of state.classes) {
      if (c.name === 'background-login') out['background-login borrowed'] = c.borrowed ?? 0;
      if (c.name === 'send-message') out['send-message in flight'] = c.inflight;
    }
    return out;
  },
  judge(run, quick) {
    const th = quick ? THRESHOLDS.quick : THRESHOLDS.full;
    const quiet = run.window(...run.phase('quiet'));
    const surge = run.window(...run.phase('surge'));
    const ownGoodput = BG_LIMIT / (BG_SERVICE_MS / 1000);
    const bgQuiet = quiet.classes['background-login'].goodput;
    const gain = bgQuiet / ownGoodput;
    const m = surge.classes['send-message'];
    const offered = m.sent + m.droppedByClient;
    const sendRefused = offered > 0 ? refused(m) / offered : null;
    const qp99 = quiet.classes['send-message'].p99;
    const bgP99 = surge.classes['background-login'].p99;
    const waitBound = m.p50 !== null && bgP99 !== null ? m.p50 + bgP99 + th.p99SlackMs : null;
    const p99Ok = m.p99 !== null && waitBound !== null && m.p99 <= waitBound;
    const [surgeAt] = run.phase('surge');
    const borrowedBefore = Math.max(0, ...run.samples.filter((s) => s.t < surgeAt).map((s) => s.extra?.['background-login borrowed'] ?? 0));
    return {
      figures: {
        backgroundLoginGoodputQuiet: bgQuiet,
        backgroundLoginOwnLimitGoodput: ownGoodput,
        borrowGain: gain,
        backgroundLoginBorrowedPeakQuiet: borrowedBefore,
        sendRefusedShareSurge: sendRefused,
        sendP99QuietMs: qp99,
        sendP99SurgeMs: m.p99,
        sendP50SurgeMs: m.p50,
        backgroundLoginP99SurgeMs: bgP99,
        backgroundLoginGoodputSurge: surge.classes['background-login'].goodput,
      },
      criteria: [
        criterion('background-login goodput in quiet time / its own limit\'s', `≥ ${th.borrowGain}×`, `${gain.toFixed(2)}× (${bgQuiet.toFixed(0)}/s)`, gain >= th.borrowGain),
        criterion('sends refused in the surge', th.sendRefused === 0 ? '0' : `≤ ${fmtPct(th.sendRefused)}`, fmtPct(sendRefused), sendRefused !== null && sendRefused <= th.sendRefused),
        criterion(
          'send p99 in the surge (waits ≤ one borrowed service time)',
          th.p99SlackMs > 0 ? `≤ p50 + bg p99 + ${th.p99SlackMs} ms` : '≤ p50 + bg p99',
          `${m.p99?.toFixed(0) ?? '-'} ≤ ${waitBound?.toFixed(0) ?? '-'} ms`,
          p99Ok,
        ),
      ],
    };
  },
};

export const borrowing: Scenario = {
  name: definition.name,
  title: definition.title,
  run: (opts) => runInbound(definition, opts),
};
