/**
 * redis-outage: the config store dies for 30 s (quick: 5 s) in the middle of an earthquake-like
 * storm, and comes back empty. Spillway only: HAProxy's config is a file, there is no store to lose.
 * Pass: enforcement unchanged while Redis is down (same config version and budgets in force,
 * send-message goodput kept, background logins still capped), and a config written when Redis
 * returns is applied within 2 s of its return; no session dropped.
 */
import { spawnChatApp, type SidecarProcess } from '../apps/launch.js';
import { BACKGROUND_LOGIN, CHAT_APP, CHAT_CLASSES, CHAT_RATES, chatPolicy, chatSessions } from './chat-workload.js';
import { RedisProcess, msUntil, publishConfig, sidecarView, startRedisSidecar } from './control-plane.js';
import { failureSummary, fmtRatio, ratio, refused, timelineOf } from './inbound.js';
import { loadWithActions } from './load-run.js';
import { criterion, type Scenario, type ScenarioOptions, type ScenarioResult } from './types.js';
import { limitEdit } from './user-policy.js';

const STORM_RATES = { ...CHAT_RATES, 'background-login': CHAT_RATES['background-login'] * 15 };
const LIMIT_BEFORE = 20;
const LIMIT_AFTER = 10;
const APPLY_WITHIN_MS = 2000;

/** Admitted background logins depend on the app's service times, which a busy machine stretches: quick runs get a wider band. */
const THRESHOLDS = { full: { goodput: 0.99, admitted: [0.75, 1.33] }, quick: { goodput: 0.95, admitted: [0.5, 2] } };

const timing = (quick: boolean): { warm: number; before: number; outage: number; after: number } =>
  quick ? { warm: 2, before: 4, outage: 5, after: 4 } : { warm: 6, before: 8, outage: 30, after: 8 };

const policy = (bgLimit: number): ReturnType<typeof chatPolicy> => {
  const p = chatPolicy();
  const bg = p.classes?.find((c) => c.name === 'background-login');
  if (bg) bg.concurrency = { limit: bgLimit, scope: 'Cluster' };
  return p;
};

async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  const th = opts.quick ? THRESHOLDS.quick : THRESHOLDS.full;
  const t = timing(opts.quick);
  // The class background logins fall into: the scenario's own, or the user's (--policy).
  const edit = limitEdit(opts.policy, BACKGROUND_LOGIN, { before: LIMIT_BEFORE, after: LIMIT_AFTER, spec: policy });
  const gauge = `${edit.className} limit`;
  const redis = await RedisProcess.start();
  const app = await spawnChatApp(CHAT_APP);
  let sidecar: SidecarProcess | null = null;
  try {
    await publishConfig(redis.url, edit.spec(edit.before), 1, 1);
    sidecar = await startRedisSidecar(redis.url, app.url, 'chat-0');
    const admin = sidecar.adminUrl;
    opts.log(`  Spillway: load → sidecar ${sidecar.url} (config from ${redis.url}) → chat app ${app.url}`);
    let appliedMs: number | null = null;
    const outageStart = t.warm + t.before;
    const outageEnd = outageStart + t.outage;
    const run = await loadWithActions(
      {
        target: sidecar.url,
        classes: CHAT_CLASSES,
        sessions: chatSessions(200, 2),
        phases: [
          { name: 'warm-up', durationMs: t.warm * 1000, rates: CHAT_RATES },
          { name: 'before', durationMs: t.before * 1000, rates: STORM_RATES },
          { name: 'redis down', durationMs: t.outage * 1000, rates: STORM_RATES },
          { name: 'after', durationMs: t.after * 1000, rates: STORM_RATES },
        ],
        poll: {
          sidecarAdmin: admin,
          app: app.url,
          extra: async (): Promise<Record<string, number>> => {
            const v = await sidecarView(admin);
            return v ? { [gauge]: v.limits[edit.className], 'config version': v.configVersion } : {};
          },
        },
        actions: [
          { at: outageStart, label: 'redis killed', run: () => redis.stop() },
          {
            at: outageEnd,
            label: `redis back, limit ${edit.after} written`,
            run: async () => {
              await redis.start();
              const back = Date.now();
              await publishConfig(redis.url, edit.spec(edit.after), 1, 2);
              const ms = await msUntil(async () => (await sidecarView(admin))?.limits[edit.className] === edit.after, 10_000);
              // Measured from Redis answering again, so the write and its propagation are both inside.
              appliedMs = ms === null ? null : Date.now() - back;
            },
          },
        ],
      },
      opts,
    );
    const before = run.report.window(...run.phase('before'));
    // The outage window without its first second, when the kill lands mid-second.
    const [downFrom, downTo] = run.phase('redis down');
    const down = run.report.window(downFrom + 1, downTo);
    const all = run.report.window(0, run.phase('after')[1]);
    const downSamples = run.samples.filter((s) => s.t >= downFrom + 0.25 && s.t < downTo);
    const unchanged = downSamples.every((s) => s.extra?.['config version'] === 1 && s.extra[gauge] === edit.before);
    const answered = downSamples.filter((s) => s.extra?.['config version'] !== undefined).length;
    const goodput = ratio(down.classes['send-message'].goodput, before.classes['send-message'].goodput);
    const bgBefore = before.classes['background-login'];
    const bgDown = down.classes['background-login'];
    const bgRatio = ratio(bgDown.goodput, bgBefore.goodput);
    const capped = refused(bgDown) > 0 && bgRatio !== null && bgRatio >= th.admitted[0] && bgRatio <= th.admitted[1];
    const criteria = [
      criterion('config in force while Redis is down', `v1, limit ${edit.before}`, unchanged ? `unchanged (${answered} samples)` : 'changed', unchanged && answered > 0),
      criterion('message goodput down / before', `≥ ${th.goodput}`, fmtRatio(goodput), goodput !== null && goodput >= th.goodput),
      criterion('background logins still capped', `refused, admitted ${th.admitted[0]}–${th.admitted[1]}× before`, `${refused(bgDown)} refused, ${fmtRatio(bgRatio)}`, capped),
      criterion(
        'new config applied after Redis returned',
        `≤ ${APPLY_WITHIN_MS} ms`,
        appliedMs === null ? 'never' : `${appliedMs} ms`,
        appliedMs !== null && appliedMs <= APPLY_WITHIN_MS,
      ),
      criterion('sessions dropped', '0', String(all.sessions.dropped), all.sessions.dropped === 0),
    ];
    const pass = criteria.every((c) => c.pass);
    return {
      name: 'redis-outage',
      title: `redis-outage: Redis down ${t.outage} s under a storm`,
      quick: opts.quick,
      classes: CHAT_CLASSES.map((c) => c.name),
      modes: [
        {
          mode: 'spillway',
          figures: {
            messageGoodputRatio: goodput,
            backgroundLoginAdmittedRatio: bgRatio,
            backgroundLoginRefusedWhileDown: refused(bgDown),
            appliedAfterRedisReturnedMs: appliedMs,
            sessionsDropped: all.sessions.dropped,
          },
          criteria,
          pass,
          timeline: timelineOf(run.report),
          samples: run.samples,
          events: run.events,
          note: (failureSummary(run.report) ? `failures: ${failureSummary(run.report)}. ` : '') + 'HAProxy and no protection have no config store to lose: not run.',
        },
      ],
      pass,
    };
  } finally {
    await sidecar?.stop();
    await app.child.stop();
    await redis.stop();
  }
}

export const redisOutage: Scenario = {
  name: 'redis-outage',
  title: 'redis-outage: Redis down under a storm',
  run,
};
