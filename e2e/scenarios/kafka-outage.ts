/**
 * kafka-outage: a slow vendor keeps the push route over its budget, so Spillway's egress defers
 * the excess to Kafka (202) and drains it later; mid-run every broker goes down for 10 s (quick:
 * 5 s). Spillway only: neither HAProxy nor a bare app has deferral.
 * Pass: no deferred message silently lost — every send ends delivered exactly once,
 * dead-lettered, or refused with a status and an `x-spillway-reason`; nothing is accepted (202)
 * while Kafka cannot store it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startSidecar, type SidecarProcess } from '../apps/launch.js';
import { VendorSim } from '../apps/vendor-sim.js';
import { startKafkaMock, type KafkaMock } from '../kafka-mock/index.js';
import { msUntil } from './control-plane.js';
import { runSends, sendTimeline } from './vendor-sends.js';
import { criterion, type Scenario, type ScenarioOptions, type ScenarioResult } from './types.js';
import { routeNeeds, withVendorUrls } from './user-policy.js';

const RATE = 20;
const ROUTE_LIMIT = 4;
const SLOW_MS = 300;
const DRAIN_WITHIN_MS = 90_000;
const ACK_GRACE_MS = 500;

const timing = (quick: boolean): { before: number; down: number; after: number } =>
  quick ? { before: 4, down: 5, after: 5 } : { before: 6, down: 10, after: 10 };

async function metricSum(adminUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

/** The scenario's own relay policy: one slow vendor behind a small budget, the excess deferred. */
function ownSpec(vendorUrl: string): unknown {
  return {
    targetRef: { kind: 'Deployment', name: 'relay' },
    routes: [
      {
        name: 'push',
        vendors: [{ name: 'a', url: vendorUrl, timeoutMs: 2000 }],
        dedup: { ttlSeconds: 3600 },
        defer: { maxAgeSeconds: 600, maxAttempts: 30, drainRatePerSecond: 50 },
        concurrency: { limit: ROUTE_LIMIT },
      },
    ],
  };
}

async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  const t = timing(opts.quick);
  const vendor = await VendorSim.start({ name: 'a', latencyMs: SLOW_MS });
  let kafka: KafkaMock | null = null;
  let sidecar: SidecarProcess | null = null;
  try {
    kafka = await startKafkaMock({ brokers: 3, topics: ['spillway.deferred.push:2', 'spillway.dead-letter.push:1'] });
    const policyFile = join(opts.workDir, 'kafka-outage-policy.yaml');
    const header = { apiVersion: 'spillway.io/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'relay', namespace: 'scenarios' } };
    // --policy: the user's push route, every vendor of it pointed at the (slow) simulator.
    const spec = opts.policy === null ? ownSpec(vendor.url) : withVendorUrls(opts.policy.spec, 'push', [vendor.url]);
    writeFileSync(policyFile, stringify({ ...header, spec }));
    sidecar = await startSidecar({ policyFile, upstream: vendor.url, extraArgs: ['--kafka', kafka.bootstrap.join(',')] });
    const admin = sidecar.adminUrl;
    opts.log(`  Spillway: sends → egress 127.0.0.1:${sidecar.egressPort} → vendor A (${SLOW_MS} ms, route limit ${opts.policy?.spec.routes.find((r) => r.name === 'push')?.concurrency?.limit ?? ROUTE_LIMIT}); Kafka mock ${kafka.bootstrap.join(',')}`);
    const ledger = new Map<string, string>();
    const answeredAt = new Map<string, number>();
    const k = kafka;
    // The outage on the senders' clock: from the moment the mock confirmed every broker down to
    // the moment they were told to come back.
    const origin = performance.now();
    let downAt = Infinity;
    let upAt = Infinity;
    const downTimer = setTimeout(() => {
      opts.log(`    t=${t.before}s all brokers down`);
      void k.down(-1).then(() => (downAt = performance.now() - origin));
    }, t.before * 1000);
    const upTimer = setTimeout(() => {
      opts.log(`    t=${t.before + t.down}s brokers back`);
      upAt = performance.now() - origin;
      void k.up(-1);
    }, (t.before + t.down) * 1000);
    const seconds = await runSends(
      { target: `http://127.0.0.1:${sidecar.egressPort}`, ratePerSecond: RATE, durationS: t.before + t.down + t.after, timeoutMs: 5000, keyPrefix: 'kafka', ledger, answeredAt, origin },
      opts.signal,
    );
    clearTimeout(downTimer);
    clearTimeout(upTimer);
    // The storm is over: the vendor is fast again and the drainer delivers what Kafka holds.
    vendor.set({ latencyMs: 0 });
    const deferredKeys = [...ledger].filter(([, o]) => o === '202').map(([key]) => key);
    const drainMs = await msUntil(async () => {
      const delivered = deferredKeys.filter((key) => vendor.deliveries(key) > 0).length;
      return delivered + (await metricSum(admin, 'spillway_dead_letter_total')) >= deferredKeys.length;
    }, DRAIN_WITHIN_MS, 250);
    const deadLettered = await metricSum(admin, 'spillway_dead_letter_total');
    const outcomes = [...ledger.values()];
    const count = (f: (o: string) => boolean): number => outcomes.filter(f).length;
    const delivered = [...ledger.keys()].filter((key) => vendor.deliveries(key) > 0).length;
    const duplicates = vendor.stats().duplicateKeys.length;
    const refusedClearly = count((o) => /^(503|429) \S/.test(o));
    const unclear = count((o) => !(o === '200' || o === '202' || /^(503|429) \S/.test(o)));
    const lost = deferredKeys.filter((key) => vendor.deliveries(key) === 0).length - deadLettered;
    // Judged by when the 202 was answered, not when the send was made: a send made during the
    // outage whose bounded produce succeeds once the brokers are back was stored, and its 202 is
    // true. ACK_GRACE_MS covers an ack received just before the brokers went down whose answer
    // reaches the sender a little later on a loaded machine.
    const acceptedWhileDown = [...ledger]
      .filter(([key, o]) => o === '202' && (answeredAt.get(key) ?? -1) > downAt + ACK_GRACE_MS && (answeredAt.get(key) ?? Infinity) < upAt)
      .map(([key]) => answeredAt.get(key) ?? 0);
    if (acceptedWhileDown.length > 0) {
      opts.log(`    202s answered during the outage (${downAt.toFixed(0)}–${upAt.toFixed(0)} ms): ${acceptedWhileDown.map((ms) => ms.toFixed(0)).join(', ')} ms`);
    }
    const reasons = [...new Set(outcomes.filter((o) => /^(503|429) /.test(o)))].join(', ');
    const criteria = [
      criterion('deferred sends drained after the storm', `≤ ${DRAIN_WITHIN_MS / 1000} s`, drainMs === null ? 'not drained' : `${(drainMs / 1000).toFixed(1)} s`, drainMs !== null),
      criterion('deferred and silently lost', '0', String(Math.max(0, lost)), drainMs !== null && lost <= 0),
      criterion('answers without a clear outcome', '0', String(unclear), unclear === 0),
      criterion('accepted (202) while every broker was down', '0', String(acceptedWhileDown.length), acceptedWhileDown.length === 0),
      criterion('duplicate deliveries', '0', String(duplicates), duplicates === 0),
    ];
    const pass = criteria.every((c) => c.pass);
    return {
      name: 'kafka-outage',
      title: 'kafka-outage: every broker down under a deferring storm',
      quick: opts.quick,
      classes: ['sends', 'deferred'],
      modes: [
        {
          mode: 'spillway',
          figures: { outageFromMs: Math.round(downAt), outageToMs: Math.round(upAt), sent: ledger.size, delivered, deferred: deferredKeys.length, deadLettered, refusedClearly, unclear, lost: Math.max(0, lost), duplicates, drainMs },
          criteria,
          pass,
          timeline: sendTimeline(seconds, ['a']),
          samples: [],
          events: [
            { t: t.before, label: 'brokers down' },
            { t: t.before + t.down, label: 'brokers back' },
          ],
          note: `${ledger.size} sent: ${count((o) => o === '200')} delivered at once, ${deferredKeys.length} deferred (${deadLettered} dead-lettered), ${refusedClearly} refused (${reasons || '-'}). HAProxy and no protection have no deferral: not run.`,
        },
      ],
      pass,
    };
  } finally {
    await sidecar?.stop();
    await kafka?.stop();
    await vendor.close();
  }
}

export const kafkaOutage: Scenario = {
  name: 'kafka-outage',
  title: 'kafka-outage: every broker down under a deferring storm',
  run,
  policyNeeds: (spec) => routeNeeds(spec, 'push', { vendors: 1, defer: true, limit: true }),
};
