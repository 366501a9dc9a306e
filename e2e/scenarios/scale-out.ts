/**
 * scale-out: the Deployment goes from 2 to 4 ready replicas during a storm. The operator
 * recompiles the policy for 4 replicas and every sidecar re-divides the Cluster-scope
 * background-login budget (40: 20 per pod → 10 per pod). Spillway only: HAProxy has no notion
 * of a budget shared by the replicas (each instance's maxconn stays what its file says).
 * Pass: all four sidecars enforce the new share within 2 s of the replicas becoming ready, the
 * shares add up to the cluster budget exactly (a remainder goes to the first ready pods by name,
 * which the operator lists in the config), the pod under load keeps to its new share, message
 * goodput is kept, no session dropped.
 */
import type { SidecarProcess } from '../apps/launch.js';
import { spawnChatApp } from '../apps/launch.js';
import { compile, effectiveLimit, extraRank } from '../../api/compile.js';
import type { TrafficPolicySpec } from '../../api/policy.js';
import { parsePolicy } from '../../api/validate.js';
import { BACKGROUND_LOGIN, CHAT_APP, CHAT_CLASSES, CHAT_RATES, chatPolicy, chatSessions } from './chat-workload.js';
import { Cluster } from './cluster.js';
import { msUntil, sidecarView, startRedisSidecar } from './control-plane.js';
import { failureSummary, fmtRatio, ratio, timelineOf } from './inbound.js';
import { loadWithActions } from './load-run.js';
import { criterion, type Scenario, type ScenarioOptions, type ScenarioResult } from './types.js';
import { classConcurrency, classFor, forTarget } from './user-policy.js';

const CLUSTER_LIMIT = 40;
const PODS = ['chat-0', 'chat-1', 'chat-2', 'chat-3'];
const STORM_RATES = { ...CHAT_RATES, 'background-login': CHAT_RATES['background-login'] * 15 };
const THRESHOLDS = { full: { goodput: 0.99, withinMs: 2000 }, quick: { goodput: 0.95, withinMs: 3000 } };
/** After the re-division, requests admitted under the old share may still be finishing for up to their 2 s timeout. */
const SETTLE_S = 2.5;

const timing = (quick: boolean): { warm: number; before: number; after: number } =>
  quick ? { warm: 2, before: 4, after: 6 } : { warm: 3, before: 6, after: 10 };

function policy(): ReturnType<typeof chatPolicy> {
  const p = chatPolicy();
  const bg = p.classes?.find((c) => c.name === 'background-login');
  if (bg) bg.concurrency = { limit: CLUSTER_LIMIT, scope: 'Cluster' };
  return p;
}

/** What a user's policy must have for this scenario: the class background logins fall into is Cluster-scoped. */
function policyNeeds(spec: TrafficPolicySpec): string[] {
  const cls = classFor(spec, BACKGROUND_LOGIN);
  const c = classConcurrency(spec, cls.index);
  if (c.scope === 'Cluster') return [];
  return [
    `the class background logins (POST /login, x-login-kind: background) fall into must have concurrency.scope Cluster, to be re-divided over the replicas; ` +
      `they fall into ${cls.name} (${cls.field}), which is ${c.scope}-scoped`,
  ];
}

/** The class of background logins, its Cluster budget and each pod's share at 4 replicas, as the operator and sidecars compute them. */
function plan(opts: ScenarioOptions): { spec: ReturnType<typeof chatPolicy> | TrafficPolicySpec; className: string; clusterLimit: number; shares: number[] } {
  const own = policy();
  const spec = opts.policy === null ? own : forTarget(opts.policy.spec, own.targetRef);
  const parsed = parsePolicy({ apiVersion: 'spillway.io/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'chat', namespace: 'scenarios' }, spec });
  if (!parsed.ok) throw new Error(`scale-out policy invalid: ${parsed.error}`);
  const cls = classFor(parsed.value.spec, BACKGROUND_LOGIN);
  // The four pods are ready and run the sidecar: the operator lists the first by name for a remainder.
  const config = compile(parsed.value, 4, { readyPods: PODS });
  const compiled = config.classes.find((c) => c.name === cls.name);
  if (compiled === undefined) throw new Error(`scale-out: no class ${cls.name}`);
  return { spec, className: cls.name, clusterLimit: compiled.policyLimit, shares: PODS.map((pod) => effectiveLimit(compiled, extraRank(config, pod))) };
}

async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  const th = opts.quick ? THRESHOLDS.quick : THRESHOLDS.full;
  const t = timing(opts.quick);
  const { spec, className, clusterLimit, shares } = plan(opts);
  const cluster = await Cluster.start(opts.workDir, 2);
  const app = await spawnChatApp(CHAT_APP);
  const sidecars: SidecarProcess[] = [];
  try {
    await cluster.setPods(PODS.map((name, i) => ({ name, ready: i < 2 })));
    await cluster.startOperator('operator-0', false);
    await cluster.applyPolicy(spec);
    // Four pods' sidecars (one shared app process stands in for the four app containers);
    // chat-2 and chat-3 are starting, not yet counted ready, until the scale.
    for (const pod of PODS) sidecars.push(await startRedisSidecar(cluster.redis.url, app.url, pod));
    const admins = sidecars.map((s) => s.adminUrl);
    const limits = async (): Promise<Array<number | undefined>> =>
      Promise.all(admins.map(async (a) => (await sidecarView(a))?.limits[className]));
    opts.log(`  Spillway: load → chat-0 ${sidecars[0].url} → chat app ${app.url}; operator, API-server double, Redis; 4 sidecars`);
    let reDividedMs: number | null = null;
    let limitsAfter: Array<number | undefined> = [];
    const scaleAt = t.warm + t.before;
    const run = await loadWithActions(
      {
        target: sidecars[0].url,
        classes: CHAT_CLASSES,
        sessions: chatSessions(200, 2),
        phases: [
          { name: 'warm-up', durationMs: t.warm * 1000, rates: CHAT_RATES },
          { name: '2 replicas', durationMs: t.before * 1000, rates: STORM_RATES },
          { name: '4 replicas', durationMs: t.after * 1000, rates: STORM_RATES },
        ],
        poll: {
          sidecarAdmin: admins[0],
          app: app.url,
          extra: async (): Promise<Record<string, number>> => {
            const res = await fetch(`${admins[0]}/state`, { signal: AbortSignal.timeout(1000) });
            const s = (await res.json()) as { classes: Array<{ name: string; limit: number; inflight: number }> };
            const bg = s.classes.find((c) => c.name === className);
            return bg ? { [`chat-0 ${className} limit`]: bg.limit, 'in flight': bg.inflight } : {};
          },
        },
        actions: [
          {
            at: scaleAt,
            label: 'scaled 2 → 4',
            run: async () => {
              const t0 = Date.now();
              await cluster.setPods(PODS.slice(2).map((name) => ({ name, ready: true })));
              await cluster.scale(4);
              const ms = await msUntil(async () => (await limits()).every((l, i) => l === shares[i]), 15_000);
              reDividedMs = ms === null ? null : Date.now() - t0;
              limitsAfter = await limits();
            },
          },
        ],
      },
      opts,
    );
    const before = run.report.window(...run.phase('2 replicas'));
    const [afterFrom, afterTo] = run.phase('4 replicas');
    const after = run.report.window(afterFrom + 1, afterTo);
    const all = run.report.window(0, afterTo);
    const goodput = ratio(after.classes['send-message'].goodput, before.classes['send-message'].goodput);
    const settled = run.samples.filter((s) => s.t >= scaleAt + SETTLE_S && s.extra?.['in flight'] !== undefined);
    const maxInflight = settled.length > 0 ? Math.max(...settled.map((s) => s.extra?.['in flight'] ?? 0)) : null;
    const sum = limitsAfter.reduce<number>((a, b) => a + (b ?? 0), 0);
    const bgRatio = ratio(after.classes['background-login'].goodput, before.classes['background-login'].goodput);
    const criteria = [
      criterion('budgets re-divided on all 4 sidecars', `≤ ${th.withinMs} ms`, reDividedMs === null ? 'never' : `${reDividedMs} ms`, reDividedMs !== null && reDividedMs <= th.withinMs),
      // Never below 1 per pod: a budget under the replicas adds up to the replicas.
      criterion('per-pod shares after', `sum = ${Math.max(clusterLimit, PODS.length)}`, `${limitsAfter.join(' + ')} = ${sum}`, sum === Math.max(clusterLimit, PODS.length)),
      criterion(
        'chat-0 background logins in flight after',
        `≤ ${shares[0]}`,
        maxInflight === null ? '-' : `max ${maxInflight}`,
        maxInflight !== null && maxInflight <= shares[0],
      ),
      criterion('message goodput after / before', `≥ ${th.goodput}`, fmtRatio(goodput), goodput !== null && goodput >= th.goodput),
      criterion('sessions dropped', '0', String(all.sessions.dropped), all.sessions.dropped === 0),
    ];
    const pass = criteria.every((c) => c.pass);
    return {
      name: 'scale-out',
      title: 'scale-out: replicas 2 → 4 under a storm',
      quick: opts.quick,
      classes: CHAT_CLASSES.map((c) => c.name),
      modes: [
        {
          mode: 'spillway',
          figures: { reDividedMs, limitsAfter: limitsAfter.join(','), chat0MaxInflightAfter: maxInflight, messageGoodputRatio: goodput, backgroundLoginAdmittedRatio: bgRatio, sessionsDropped: all.sessions.dropped },
          criteria,
          pass,
          timeline: timelineOf(run.report),
          samples: run.samples,
          events: run.events,
          note: (failureSummary(run.report) ? `failures: ${failureSummary(run.report)}. ` : '') + `chat-0 background logins admitted after/before: ${fmtRatio(bgRatio)}. HAProxy has no replica-shared budget: not run.`,
        },
      ],
      pass,
    };
  } finally {
    for (const s of sidecars) await s.stop();
    await app.child.stop();
    await cluster.stop();
  }
}

export const scaleOut: Scenario = { name: 'scale-out', title: 'scale-out: replicas 2 → 4 under a storm', run, policyNeeds };
