/**
 * The vendor incidents (Baemin): notifications go out at a steady rate through one route with
 * two vendors, and vendor A browns out (success 99% → 60%) or hangs (accepts, never answers).
 * Three ways: straight to vendor A (no protection), HAProxy with A and a backup server B and
 * `observe layer7` on A, and Spillway's egress with success-rate failover and dedup.
 *
 * vendor-brownout passes when ≥ 95% of deliveries go through B from 5 s after the brownout on,
 * with zero duplicate deliveries. vendor-hang passes when the same holds after A stops answering
 * and no send is held much past its vendor timeout.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { spawnChild, waitForHttp200 } from '../apps/child-process.js';
import { freePort } from '../apps/free-port.js';
import { startSidecar } from '../apps/launch.js';
import { VendorSim } from '../apps/vendor-sim.js';
import { fmtPct } from './inbound.js';
import { runSends, sendTimeline, type SendSecond } from './vendor-sends.js';
import { criterion, MODE_LABEL, type Criterion, type Mode, type ModeResult, type Scenario, type ScenarioOptions, type ScenarioResult } from './types.js';
import { routeNeeds, withVendorUrls } from './user-policy.js';

const RATE = 40;
const CLIENT_TIMEOUT_MS = 5000;
const FAILOVER_WITHIN_S = 5;
const ON_B_SHARE = 0.95;
/** Extra time a send may be held past the vendor timeout: the retry on B plus scheduling on a busy machine. */
const HELD_MARGIN_MS = 1000;
/** The route the sends go to (`/push/send` on the egress port). */
const ROUTE = 'push';

interface VendorIncident {
  name: string;
  title: string;
  vendorTimeoutMs: number;
  /** What happens to vendor A. */
  breakA(a: VendorSim): void;
  /** Judge "held past the timeout"? */
  judgeHeld: boolean;
}

const timing = (quick: boolean): { before: number; after: number } => (quick ? { before: 3, after: 10 } : { before: 5, after: 20 });

const policyHeader = { apiVersion: 'spillway.io/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'relay', namespace: 'scenarios' } };

function spillwayPolicy(a: VendorSim, b: VendorSim, timeoutMs: number): unknown {
  return {
    ...policyHeader,
    spec: {
      targetRef: { kind: 'Deployment', name: 'relay' },
      routes: [
        {
          name: ROUTE,
          vendors: [
            { name: 'a', url: a.url, timeoutMs },
            { name: 'b', url: b.url, timeoutMs },
          ],
          failover: { minSuccessRate: 0.9, windowSeconds: 5, minRequests: 10, cooldownSeconds: 3600 },
          dedup: { ttlSeconds: 3600 },
        },
      ],
    },
  };
}

/**
 * HAProxy's best for this: A with layer-7 observation (marked down after consecutive errors, back
 * after two good TCP checks), B as backup, failed answers and timeouts retried once (the vendors
 * deliver nothing on a failed answer, so the retry is safe here).
 */
function haproxyConfig(port: number, a: VendorSim, b: VendorSim, timeoutMs: number): string {
  return [
    'global',
    '  nbthread 1',
    '  maxconn 8000',
    'defaults',
    '  mode http',
    '  option http-keep-alive',
    '  timeout connect 1s',
    '  timeout client 60s',
    `  timeout server ${timeoutMs}ms`,
    'frontend fe',
    `  bind 127.0.0.1:${port}`,
    '  monitor-uri /_haproxy/health',
    '  default_backend be_push',
    'backend be_push',
    '  retry-on conn-failure empty-response response-timeout 500 502 503 504',
    '  retries 1',
    '  option redispatch 1',
    `  server a 127.0.0.1:${a.port} check inter 1s rise 2 fall 3 observe layer7 error-limit 2 on-error mark-down`,
    `  server b 127.0.0.1:${b.port} check inter 1s backup`,
    '',
  ].join('\n');
}

interface Front {
  url: string;
  stop(): Promise<void>;
}

async function startFront(mode: Mode, inc: VendorIncident, a: VendorSim, b: VendorSim, opts: ScenarioOptions): Promise<Front> {
  if (mode === 'none') return { url: a.url, stop: async () => {} };
  if (mode === 'haproxy') {
    const port = await freePort();
    const path = join(opts.workDir, `haproxy-vendor-${port}.cfg`);
    writeFileSync(path, haproxyConfig(port, a, b, inc.vendorTimeoutMs));
    const child = spawnChild('haproxy', 'haproxy', ['-db', '-f', path]);
    const url = `http://127.0.0.1:${port}`;
    await waitForHttp200(child, `${url}/_haproxy/health`);
    return { url, stop: () => child.stop() };
  }
  const policyFile = join(opts.workDir, `${inc.name}-policy.yaml`);
  // --policy: the user's route, its vendors pointed at the simulators A and B in order.
  const doc = opts.policy === null ? spillwayPolicy(a, b, inc.vendorTimeoutMs) : { ...policyHeader, spec: withVendorUrls(opts.policy.spec, ROUTE, [a.url, b.url]) };
  writeFileSync(policyFile, stringify(doc));
  // The inbound side is unused here; its upstream only has to be a URL.
  const sidecar = await startSidecar({ policyFile, upstream: a.url });
  return { url: `http://127.0.0.1:${sidecar.egressPort}`, stop: () => sidecar.stop() };
}

function sum(seconds: SendSecond[], from: number, to: number, f: (s: SendSecond) => number): number {
  return seconds.slice(from, to).reduce((n, s) => n + f(s), 0);
}

async function runMode(inc: VendorIncident, mode: Mode, opts: ScenarioOptions): Promise<ModeResult> {
  const t = timing(opts.quick);
  const a = await VendorSim.start({ name: 'a', successRate: 0.99 });
  const b = await VendorSim.start({ name: 'b', successRate: 1 });
  let front: Front | null = null;
  try {
    front = await startFront(mode, inc, a, b, opts);
    opts.log(`  ${MODE_LABEL[mode]}: sends → ${mode === 'none' ? 'vendor A' : `${mode} ${front.url} → vendors A, B`}`);
    const breakTimer = setTimeout(() => {
      opts.log(`    t=${t.before}s vendor A: ${inc.title.split(': ')[1]}`);
      inc.breakA(a);
    }, t.before * 1000);
    const seconds = await runSends(
      { target: front.url, ratePerSecond: RATE, durationS: t.before + t.after, timeoutMs: CLIENT_TIMEOUT_MS, keyPrefix: `${inc.name}-${mode}` },
      opts.signal,
    );
    clearTimeout(breakTimer);
    const from = t.before + FAILOVER_WITHIN_S;
    const end = t.before + t.after;
    const ok = sum(seconds, from, end, (s) => s.ok);
    const onB = sum(seconds, from, end, (s) => s.byVendor.b ?? 0);
    const share = ok > 0 ? onB / ok : null;
    const keys = new Map<string, number>();
    for (const sim of [a, b]) for (const [k, n] of sim.deliveredKeys()) keys.set(k, (keys.get(k) ?? 0) + n);
    const duplicates = [...keys.values()].filter((n) => n > 1).length;
    const sent = sum(seconds, t.before, end, (s) => s.sent);
    const delivered = sum(seconds, t.before, end, (s) => s.ok);
    const maxHeld = Math.max(...seconds.slice(t.before).map((s) => s.maxHeldMs));
    const criteria: Criterion[] = [
      criterion(`deliveries via B from ${FAILOVER_WITHIN_S} s after`, `≥ ${fmtPct(ON_B_SHARE)}`, share === null ? 'none delivered' : fmtPct(share), share !== null && share >= ON_B_SHARE),
      criterion('duplicate deliveries', '0', String(duplicates), duplicates === 0),
    ];
    if (inc.judgeHeld) {
      // Held no longer than vendor A's timeout (the user's, under --policy) plus the margin.
      const userA = opts.policy?.spec.routes.find((r) => r.name === ROUTE)?.vendors[0];
      const limit = (userA?.timeoutMs ?? inc.vendorTimeoutMs) + HELD_MARGIN_MS;
      criteria.push(criterion('longest a send was held', `≤ ${limit} ms`, `${maxHeld.toFixed(0)} ms`, maxHeld <= limit));
    }
    return {
      mode,
      figures: {
        shareViaB: share,
        duplicates,
        sentAfterBreak: sent,
        deliveredAfterBreak: delivered,
        refusedAfterBreak: sum(seconds, t.before, end, (s) => s.refused),
        failedAfterBreak: sum(seconds, t.before, end, (s) => s.failed),
        timedOutAfterBreak: sum(seconds, t.before, end, (s) => s.timeouts),
        maxHeldMs: Math.round(maxHeld),
      },
      criteria,
      pass: criteria.every((c) => c.pass),
      timeline: sendTimeline(seconds, ['a', 'b']),
      samples: [],
      events: [{ t: t.before, label: `vendor A ${inc.name === 'vendor-hang' ? 'hangs' : '60% success'}` }],
      note: `after the break: ${sent} sent, ${delivered} delivered (${fmtPct(sent > 0 ? delivered / sent : null)})`,
    };
  } finally {
    await front?.stop();
    await a.close();
    await b.close();
  }
}

function scenario(inc: VendorIncident): Scenario {
  return {
    name: inc.name,
    title: inc.title,
    policyNeeds: (spec) => routeNeeds(spec, ROUTE, { vendors: 2 }),
    async run(opts: ScenarioOptions): Promise<ScenarioResult> {
      const modes: ModeResult[] = [];
      for (const [i, mode] of opts.modes.entries()) {
        opts.log(`[${i + 1}/${opts.modes.length}] ${MODE_LABEL[mode]}`);
        modes.push(await runMode(inc, mode, opts));
      }
      const spillway = modes.find((m) => m.mode === 'spillway');
      return { name: inc.name, title: inc.title, quick: opts.quick, classes: ['sends', 'via a', 'via b'], modes, pass: spillway?.pass ?? false };
    },
  };
}

export const vendorBrownout = scenario({
  name: 'vendor-brownout',
  title: 'vendor-brownout: vendor A 99% → 60% success',
  vendorTimeoutMs: 2000,
  breakA: (a) => a.set({ successRate: 0.6 }),
  judgeHeld: false,
});

export const vendorHang = scenario({
  name: 'vendor-hang',
  title: 'vendor-hang: vendor A stops answering',
  vendorTimeoutMs: 1000,
  breakA: (a) => a.set({ hang: true }),
  judgeHeld: true,
});
