/**
 * shadow: the earthquake (background logins ×15) replayed twice against the chat policy, first
 * with spec.mode Shadow, then Enforce. Shadow must refuse nothing and count what it would have
 * refused; per class, those would-be refusals (spillway_shadow_requests_total) must agree with
 * the real ones of the Enforce run (spillway_requests_total) within 10 %, both counted over the
 * same three reasons: capacity, load-level and queue-timeout.
 */
import { earthquakeDefinition } from './earthquake.js';
import { runInboundMode, type InboundScenario, type Judgement } from './inbound.js';
import { criterion, type Criterion, type ModeResult, type Scenario, type ScenarioOptions, type ScenarioResult } from './types.js';

/** The admission refusals; Shadow's would-be outcomes use the same names (plus queued, a wait). */
const REFUSALS = ['capacity', 'load-level', 'queue-timeout'];
/** Classes with fewer refusals than this in both runs are not compared (a few requests are noise). */
const MIN_COUNT = 20;
const THRESHOLDS = { full: { agreement: 0.1 }, quick: { agreement: 0.2 } };

type Counts = Record<string, number>;

/** Sums a counter's samples per class over the given outcomes, from the Prometheus text format. */
export function countsByClass(text: string, metric: string, outcomes: string[]): Counts {
  const out: Counts = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue;
    const cls = /[{,]class="([^"]*)"/.exec(line)?.[1];
    const outcome = /[{,]outcome="([^"]*)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (cls === undefined || outcome === undefined || !outcomes.includes(outcome) || !Number.isFinite(value)) continue;
    out[cls] = (out[cls] ?? 0) + value;
  }
  return out;
}

function totalSeconds(s: InboundScenario, quick: boolean): number {
  return s.phases(quick).reduce((a, p) => a + p.durationMs, 0) / 1000;
}

/** The earthquake in one mode, reading the sidecar's metrics just before the load ends. */
function variant(mode: 'Shadow' | 'Enforce', sink: { text: string }, judge: (quick: boolean) => Judgement): InboundScenario {
  const base = earthquakeDefinition;
  return {
    ...base,
    name: `shadow-${mode.toLowerCase()}`,
    policy: { ...base.policy, mode },
    actions: (quick) => [
      ...(base.actions?.(quick) ?? []),
      {
        at: totalSeconds(base, quick) - 0.3,
        label: 'metrics read',
        run: async ({ sidecar }) => {
          if (sidecar === null) throw new Error('shadow runs need the sidecar');
          sink.text = await (await fetch(`${sidecar.adminUrl}/metrics`)).text();
        },
      },
    ],
    judge: (_run, quick) => judge(quick),
  };
}

async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  const th = opts.quick ? THRESHOLDS.quick : THRESHOLDS.full;
  const shadowText = { text: '' };
  const enforceText = { text: '' };
  let wouldBe: Counts = {};
  const shadowJudge = (): Judgement => {
    wouldBe = countsByClass(shadowText.text, 'spillway_shadow_requests_total', REFUSALS);
    const refusedInShadow = Object.values(countsByClass(shadowText.text, 'spillway_requests_total', REFUSALS)).reduce((a, b) => a + b, 0);
    const total = Object.values(wouldBe).reduce((a, b) => a + b, 0);
    return {
      figures: { refusedInShadow, ...Object.fromEntries(Object.entries(wouldBe).map(([k, v]) => [`wouldBe:${k}`, v])) },
      criteria: [
        criterion('requests refused in Shadow', '0', String(refusedInShadow), refusedInShadow === 0),
        criterion('would-be refusals counted', '> 0', String(total), total > 0),
      ],
    };
  };
  const enforceJudge = (): Judgement => {
    const real = countsByClass(enforceText.text, 'spillway_requests_total', REFUSALS);
    const criteria: Criterion[] = [];
    const figures: Record<string, number | null> = {};
    for (const cls of [...new Set([...Object.keys(real), ...Object.keys(wouldBe)])].sort()) {
      const r = real[cls] ?? 0;
      const w = wouldBe[cls] ?? 0;
      figures[`real:${cls}`] = r;
      figures[`wouldBe:${cls}`] = w;
      if (r < MIN_COUNT && w < MIN_COUNT) continue;
      const diff = Math.abs(w - r) / Math.max(r, 1);
      criteria.push(criterion(`${cls}: would-be vs real refusals`, `within ${th.agreement * 100} %`, `${w} vs ${r} (${(diff * 100).toFixed(1)} %)`, diff <= th.agreement));
    }
    if (criteria.length === 0) criteria.push(criterion('a class with refusals to compare', '≥ 1', '0', false));
    return { figures, criteria };
  };
  const results: ModeResult[] = [];
  opts.log('[1/2] Spillway, spec.mode Shadow');
  results.push({ ...(await runInboundMode(variant('Shadow', shadowText, shadowJudge), 'spillway', opts)), label: 'Spillway Shadow' });
  if (opts.signal.aborted) throw new Error('interrupted');
  opts.log('[2/2] Spillway, spec.mode Enforce');
  results.push({ ...(await runInboundMode(variant('Enforce', enforceText, enforceJudge), 'spillway', opts)), label: 'Spillway Enforce' });
  return {
    name: 'shadow',
    title: 'shadow: the earthquake in Shadow, then in Enforce',
    quick: opts.quick,
    classes: earthquakeDefinition.classes.map((c) => c.name),
    modes: results,
    pass: results.every((r) => r.pass),
  };
}

export const shadow: Scenario = { name: 'shadow', title: 'shadow: the earthquake in Shadow, then in Enforce', run };
