/** What a scenario run produces: per protection mode, a timeline and judged criteria. */
import type { TrafficPolicySpec } from '../../api/policy.js';
import type { UserPolicy } from './user-policy.js';

export type Mode = 'none' | 'haproxy' | 'spillway';

export const MODE_LABEL: Record<Mode, string> = { none: 'no protection', haproxy: 'HAProxy', spillway: 'Spillway' };

export interface ScenarioOptions {
  quick: boolean;
  /** The protection modes to run, where the scenario has them (Spillway-only scenarios ignore this). */
  modes: Mode[];
  /** Scratch directory for generated configs (removed by the caller). */
  workDir: string;
  signal: AbortSignal;
  log: (line: string) => void;
  /** `--policy FILE`: the user's policy in place of the scenario's in the Spillway run; null: the scenario's own. */
  policy: UserPolicy | null;
}

/** One second of one mode's run, per class and overall. */
export interface TimelineSecond {
  t: number;
  classes: Record<string, { goodput: number; p99: number | null; refused: number; failed: number }>;
  sessionsOpen: number;
}

/** A sample of the proxy's or the app's state between seconds. */
export interface StateSample {
  /** Seconds since the load started. */
  t: number;
  /** Sidecar load level 0..3; null without a sidecar or when it did not answer. */
  loadLevel: number | null;
  /** The app's worker backlog; null when it did not answer. */
  appBacklog: number | null;
  /** Free-form extra gauges (e.g. a class limit during scale-out). */
  extra?: Record<string, number>;
}

/** A vertical marker on the timeline (storm start, Redis killed, ...). */
export interface TimelineEvent {
  t: number;
  label: string;
}

export interface Criterion {
  name: string;
  /** The pass condition, e.g. `≥ 0.99`. */
  target: string;
  /** The measured value, formatted. */
  value: string;
  pass: boolean;
}

export interface ModeResult {
  mode: Mode;
  /** Shown instead of the mode's label when one scenario runs a mode twice (e.g. Shadow, then Enforce). */
  label?: string;
  /** Key figures of this run (ratios, counts, ms), for the JSON summary. */
  figures: Record<string, number | string | null>;
  criteria: Criterion[];
  pass: boolean;
  timeline: TimelineSecond[];
  samples: StateSample[];
  events: TimelineEvent[];
  /** A line of context printed under the table (backlog peak, sessions, ...). */
  note?: string;
}

export interface ScenarioResult {
  name: string;
  title: string;
  quick: boolean;
  /** Classes to chart, in order. */
  classes: string[];
  modes: ModeResult[];
  /** Spillway's verdict. */
  pass: boolean;
  /** Present when the Spillway run used the user's policy (`--policy FILE`) instead of the scenario's. */
  userPolicy?: { path: string; sha256: string };
}

export interface Scenario {
  name: string;
  title: string;
  run(opts: ScenarioOptions): Promise<ScenarioResult>;
  /**
   * What this scenario needs of a user's policy that `spec` lacks, one sentence each; [] (or no
   * method) when any valid policy can drive it.
   */
  policyNeeds?(spec: TrafficPolicySpec): string[];
}

export function modeLabel(m: ModeResult): string {
  return m.label ?? MODE_LABEL[m.mode];
}

export function criterion(name: string, target: string, value: string, pass: boolean): Criterion {
  return { name, target, value, pass };
}
