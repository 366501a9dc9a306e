/**
 * operator-restart: two operator replicas with leader election; the leader is SIGKILLed during a
 * storm (no graceful hand-back of the Lease). Spillway only (there is no HAProxy control plane).
 * Pass: the data path is unaffected (the sidecar keeps its config and goodput, no session
 * dropped), the standby takes the Lease within the lease duration plus two retry periods, and it
 * then does the leader's job: a policy edit made after the takeover reaches the sidecar.
 */
import { spawnChatApp, type SidecarProcess } from '../apps/launch.js';
import { BACKGROUND_LOGIN, CHAT_APP, CHAT_CLASSES, CHAT_RATES, chatPolicy, chatSessions } from './chat-workload.js';
import { Cluster, LEASE } from './cluster.js';
import { msUntil, sidecarView, startRedisSidecar } from './control-plane.js';
import { failureSummary, fmtRatio, ratio, timelineOf } from './inbound.js';
import { loadWithActions } from './load-run.js';
import { criterion, type Scenario, type ScenarioOptions, type ScenarioResult } from './types.js';
import { limitEdit } from './user-policy.js';

const STORM_RATES = { ...CHAT_RATES, 'background-login': CHAT_RATES['background-login'] * 15 };
const THRESHOLDS = { full: { goodput: 0.99 }, quick: { goodput: 0.95 } };
/** Lease duration + two retry periods (1 s each): a standby notices the expiry on its next try. */
const TAKEOVER_WITHIN_MS = LEASE.durationMs + 2000;
/** The edit goes through kubectl (its start-up included), the new leader, Redis and the sidecar. */
const EDIT_WITHIN_MS = 10_000;
const EDITED_LIMIT = 10;

const timing = (quick: boolean): { warm: number; before: number; after: number } =>
  quick ? { warm: 2, before: 4, after: 12 } : { warm: 3, before: 6, after: 16 };

function policy(bgLimit: number): ReturnType<typeof chatPolicy> {
  const p = chatPolicy();
  const bg = p.classes?.find((c) => c.name === 'background-login');
  if (bg) bg.concurrency = { limit: bgLimit, scope: 'Cluster' };
  return p;
}

async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  const th = opts.quick ? THRESHOLDS.quick : THRESHOLDS.full;
  const t = timing(opts.quick);
  // The class background logins fall into: the scenario's own, or the user's (--policy).
  const edit = limitEdit(opts.policy, BACKGROUND_LOGIN, { before: 20, after: EDITED_LIMIT, spec: policy });
  const cluster = await Cluster.start(opts.workDir, 1);
  const app = await spawnChatApp(CHAT_APP);
  let sidecar: SidecarProcess | null = null;
  try {
    const a = await cluster.startOperator('operator-a', true);
    if ((await msUntil(async () => (await cluster.leaseHolder()) === 'operator-a', 15_000)) === null) throw new Error('operator-a never took the lease');
    await cluster.startOperator('operator-b', true);
    await cluster.applyPolicy(edit.spec(edit.before));
    sidecar = await startRedisSidecar(cluster.redis.url, app.url, 'chat-0');
    const admin = sidecar.adminUrl;
    const version0 = (await sidecarView(admin))?.configVersion ?? 0;
    opts.log(`  Spillway: load → sidecar ${sidecar.url} → chat app ${app.url}; leader operator-a, standby operator-b`);
    let takeoverMs: number | null = null;
    let editMs: number | null = null;
    const killAt = t.warm + t.before;
    const run = await loadWithActions(
      {
        target: sidecar.url,
        classes: CHAT_CLASSES,
        sessions: chatSessions(200, 2),
        phases: [
          { name: 'warm-up', durationMs: t.warm * 1000, rates: CHAT_RATES },
          { name: 'leader up', durationMs: t.before * 1000, rates: STORM_RATES },
          { name: 'leader killed', durationMs: t.after * 1000, rates: STORM_RATES },
        ],
        poll: {
          sidecarAdmin: admin,
          app: app.url,
          extra: async (): Promise<Record<string, number>> => {
            const [v, holder] = await Promise.all([sidecarView(admin), cluster.leaseHolder()]);
            const out: Record<string, number> = { 'lease holder (a=1, b=2)': holder === 'operator-a' ? 1 : holder === 'operator-b' ? 2 : 0 };
            if (v) out['config version'] = v.configVersion;
            return out;
          },
        },
        actions: [
          {
            at: killAt,
            label: 'leader SIGKILLed',
            run: async () => {
              const t0 = Date.now();
              process.kill(a.child.pid, 'SIGKILL');
              const ms = await msUntil(async () => (await cluster.leaseHolder()) === 'operator-b', 30_000, 50);
              takeoverMs = ms === null ? null : Date.now() - t0;
              if (ms === null) return;
              const t1 = Date.now();
              await cluster.applyPolicy(edit.spec(edit.after));
              const applied = await msUntil(async () => (await sidecarView(admin))?.limits[edit.className] === edit.after, 20_000);
              editMs = applied === null ? null : Date.now() - t1;
            },
          },
        ],
      },
      opts,
    );
    const before = run.report.window(...run.phase('leader up'));
    const [killFrom, killTo] = run.phase('leader killed');
    const after = run.report.window(killFrom, killTo);
    const all = run.report.window(0, killTo);
    const goodput = ratio(after.classes['send-message'].goodput, before.classes['send-message'].goodput);
    // Until the new leader publishes the edit, the sidecar must keep the version it had.
    const leaderless = run.samples.filter((s) => s.t >= killAt && s.t < killAt + (takeoverMs ?? 0) / 1000);
    const kept = leaderless.every((s) => s.extra?.['config version'] === version0);
    const criteria = [
      criterion('message goodput after kill / before', `≥ ${th.goodput}`, fmtRatio(goodput), goodput !== null && goodput >= th.goodput),
      criterion('sidecar config while leaderless', `v${version0} kept`, kept ? `kept (${leaderless.length} samples)` : 'changed', kept),
      criterion('standby took the lease', `≤ ${TAKEOVER_WITHIN_MS} ms`, takeoverMs === null ? 'never' : `${takeoverMs} ms`, takeoverMs !== null && takeoverMs <= TAKEOVER_WITHIN_MS),
      criterion('edit after takeover enforced', `≤ ${EDIT_WITHIN_MS} ms`, editMs === null ? 'never' : `${editMs} ms`, editMs !== null && editMs <= EDIT_WITHIN_MS),
      criterion('sessions dropped', '0', String(all.sessions.dropped), all.sessions.dropped === 0),
    ];
    const pass = criteria.every((c) => c.pass);
    return {
      name: 'operator-restart',
      title: 'operator-restart: the leader killed under a storm',
      quick: opts.quick,
      classes: CHAT_CLASSES.map((c) => c.name),
      modes: [
        {
          mode: 'spillway',
          figures: { messageGoodputRatio: goodput, takeoverMs, editAfterTakeoverMs: editMs, sessionsDropped: all.sessions.dropped },
          criteria,
          pass,
          timeline: timelineOf(run.report),
          samples: run.samples,
          events: run.events,
          note: (failureSummary(run.report) ? `failures: ${failureSummary(run.report)}. ` : '') + `lease: ${LEASE.duration}, renew deadline ${LEASE.renew}, retry ${LEASE.retry}. HAProxy has no control plane to restart: not run.`,
        },
      ],
      pass,
    };
  } finally {
    await sidecar?.stop();
    await app.child.stop();
    await cluster.stop();
  }
}

export const operatorRestart: Scenario = { name: 'operator-restart', title: 'operator-restart: the leader killed under a storm', run };
