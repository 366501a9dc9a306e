/**
 * Runs an inbound scenario (load against the chat app) once per protection mode: straight at the
 * app, through HAProxy configured from the same policy, and through the real `spillway sidecar`
 * process. Each mode gets a fresh app, the same open-loop plan, the same timed actions, a state
 * poller, and is judged by the scenario's criteria.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { TrafficPolicySpecInput } from '../../api/policy.js';
import { spawnChatApp, startSidecar, type ChatAppProcess, type SidecarProcess } from '../apps/launch.js';
import { runLoad, type ClassWindow, type LoadReport, type Phase, type RequestClass, type SessionPlan, type WindowSummary } from '../loadgen/index.js';
import { startHaproxy, type HaproxyProcess } from './haproxy.js';
import { StatePoller, type PollTargets } from './poller.js';
import { MODE_LABEL, type Criterion, type Mode, type ModeResult, type ScenarioOptions, type ScenarioResult, type StateSample, type TimelineSecond } from './types.js';

export interface ActionContext {
  app: ChatAppProcess;
  sidecar: SidecarProcess | null;
}

export interface TimedAction {
  /** Seconds after the load starts. */
  at: number;
  label: string;
  run(ctx: ActionContext): Promise<void>;
}

/** What a judge sees of one mode's run. */
export interface InboundRun {
  mode: Mode;
  report: LoadReport;
  samples: StateSample[];
  /** [from, to) seconds of a phase by name. */
  phase(name: string): [number, number];
  window(from: number, to: number): WindowSummary;
  appStats: { maxBacklogSeen: number; abandoned: number };
}

export interface Judgement {
  figures: Record<string, number | string | null>;
  criteria: Criterion[];
  note?: string;
}

export interface InboundScenario {
  name: string;
  title: string;
  /** Chat app flags (see chat-app-main.ts). */
  app: Record<string, number>;
  policy: TrafficPolicySpecInput;
  classes: RequestClass[];
  phases(quick: boolean): Phase[];
  sessions?: SessionPlan;
  actions?(quick: boolean): TimedAction[];
  /** Gauges of the sidecar's /state to sample onto the timeline (Spillway mode). */
  gauges?: PollTargets['fromState'];
  judge(run: InboundRun, quick: boolean): Judgement;
}

export function writePolicy(dir: string, name: string, spec: TrafficPolicySpecInput): string {
  const path = join(dir, `${name}-policy.yaml`);
  const doc = { apiVersion: 'spillway.io/v1alpha1', kind: 'TrafficPolicy', metadata: { name, namespace: 'scenarios' }, spec };
  writeFileSync(path, stringify(doc));
  return path;
}

const REFUSAL_STATUSES = ['503', '429'];

/** Refusals: Spillway's (x-spillway-reason) and plain 503/429 answers (HAProxy's queue timeout). */
export function refused(c: ClassWindow): number {
  let n = Object.values(c.shed).reduce((a, b) => a + b, 0);
  for (const s of REFUSAL_STATUSES) n += c.errors[s] ?? 0;
  return n;
}

/** Everything that neither succeeded nor was refused: timeouts, other errors, never sent. */
export function unanswered(c: ClassWindow): number {
  return c.sent + c.droppedByClient - c.succeeded - refused(c);
}

export function timelineOf(report: LoadReport): TimelineSecond[] {
  return report.seconds.map((s, t) => ({
    t,
    classes: Object.fromEntries(
      Object.entries(s.classes).map(([name, c]) => [name, { goodput: c.succeeded, p99: c.p99, refused: refused(c), failed: unanswered(c) }]),
    ),
    sessionsOpen: s.sessions.open,
  }));
}

/** What went wrong over the whole run, per class: `background-login: timeout×12 ECONNRESET×3`, or ''. */
export function failureSummary(report: LoadReport): string {
  const all = report.window(0, report.seconds.length);
  const parts: string[] = [];
  for (const [name, c] of Object.entries(all.classes)) {
    const kinds: Record<string, number> = { ...c.errors, timeout: c.timeouts, 'not sent (client in-flight cap)': c.droppedByClient };
    const text = Object.entries(kinds)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k}×${n}`)
      .join(' ');
    if (text) parts.push(`${name}: ${text}`);
  }
  return parts.join('; ');
}

function phaseBounds(phases: Phase[]): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  let at = 0;
  for (const p of phases) {
    out.set(p.name, [at / 1000, (at + p.durationMs) / 1000]);
    at += p.durationMs;
  }
  return out;
}

interface Front {
  url: string;
  sidecar: SidecarProcess | null;
  stop(): Promise<void>;
}

async function startFront(mode: Mode, s: InboundScenario, app: ChatAppProcess, opts: ScenarioOptions): Promise<Front> {
  if (mode === 'none') return { url: app.url, sidecar: null, stop: async () => {} };
  if (mode === 'haproxy') {
    const h: HaproxyProcess = await startHaproxy(opts.workDir, s.policy, `127.0.0.1:${app.port}`);
    return { url: h.url, sidecar: null, stop: () => h.child.stop() };
  }
  // --policy: the user's policy replaces the scenario's here only; HAProxy stays the scenario's baseline.
  const sidecar = await startSidecar({ policyFile: writePolicy(opts.workDir, s.name, opts.policy?.spec ?? s.policy), upstream: app.url });
  return { url: sidecar.url, sidecar, stop: () => sidecar.stop() };
}

/** One run of a scenario in one mode: a fresh app, the load, the actions, the verdict. */
export async function runInboundMode(s: InboundScenario, mode: Mode, opts: ScenarioOptions): Promise<ModeResult> {
  const app = await spawnChatApp(s.app);
  let front: Front | null = null;
  try {
    front = await startFront(mode, s, app, opts);
    opts.log(`  ${MODE_LABEL[mode]}: load → ${front.url === app.url ? '' : `${mode} ${front.url} → `}chat app ${app.url}`);
    const phases = s.phases(opts.quick);
    const actions = s.actions?.(opts.quick) ?? [];
    const poller = new StatePoller({ sidecarAdmin: front.sidecar?.adminUrl, app: app.url, fromState: s.gauges });
    const t0 = Date.now();
    poller.start(t0);
    const ctx: ActionContext = { app, sidecar: front.sidecar };
    const timers = actions.map(
      (a) =>
        new Promise<void>((resolve, reject) => {
          setTimeout(() => {
            if (opts.signal.aborted) return resolve();
            opts.log(`    t=${a.at}s ${a.label}`);
            a.run(ctx).then(resolve, reject);
          }, a.at * 1000);
        }),
    );
    const report = await runLoad(
      { target: front.url, classes: s.classes, phases, sessions: s.sessions },
      { signal: opts.signal, onPhase: (p) => opts.log(`    ${p.name} (${p.durationMs / 1000} s)`) },
    );
    await Promise.all(timers);
    const samples = await poller.stop();
    const stats = (await (await fetch(`${app.url}/_admin/stats`)).json()) as { pool: { maxBacklogSeen: number }; abandoned: number };
    const bounds = phaseBounds(phases);
    const run: InboundRun = {
      mode,
      report,
      samples,
      phase: (name) => {
        const b = bounds.get(name);
        if (!b) throw new Error(`${s.name}: no phase ${name}`);
        return b;
      },
      window: (from, to) => report.window(from, to),
      appStats: { maxBacklogSeen: stats.pool.maxBacklogSeen, abandoned: stats.abandoned },
    };
    const j = s.judge(run, opts.quick);
    return {
      mode,
      figures: { ...j.figures, appBacklogPeak: stats.pool.maxBacklogSeen, abandonedByClients: stats.abandoned },
      criteria: j.criteria,
      pass: j.criteria.every((c) => c.pass),
      timeline: timelineOf(report),
      samples,
      events: actions.map((a) => ({ t: a.at, label: a.label })).concat(
        phases.slice(1).map((p) => ({ t: bounds.get(p.name)?.[0] ?? 0, label: p.name })),
      ),
      note: [j.note, failureSummary(report) && `failures: ${failureSummary(report)}`].filter(Boolean).join('; ') || undefined,
    };
  } finally {
    await front?.stop();
    await app.child.stop();
  }
}

export async function runInbound(s: InboundScenario, opts: ScenarioOptions): Promise<ScenarioResult> {
  const modes = opts.modes;
  const results: ModeResult[] = [];
  for (const [i, mode] of modes.entries()) {
    opts.log(`[${i + 1}/${modes.length}] ${MODE_LABEL[mode]}`);
    results.push(await runInboundMode(s, mode, opts));
    if (opts.signal.aborted) throw new Error('interrupted');
  }
  const spillway = results.find((r) => r.mode === 'spillway');
  return {
    name: s.name,
    title: s.title,
    quick: opts.quick,
    classes: s.classes.map((c) => c.name),
    modes: results,
    pass: spillway ? spillway.pass : false,
  };
}

/** b over a, or null when either is missing or a is 0. */
export function ratio(b: number | null | undefined, a: number | null | undefined): number | null {
  return a !== null && a !== undefined && b !== null && b !== undefined && a > 0 ? b / a : null;
}

export const fmtRatio = (r: number | null): string => (r === null ? '-' : `${r.toFixed(2)}×`);
export const fmtPct = (r: number | null): string => (r === null ? '-' : `${(r * 100).toFixed(1)}%`);
