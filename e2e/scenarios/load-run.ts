/**
 * One open-loop load run with timed actions and a state poller, for the scenarios that drive
 * their own processes (Redis, operator, several sidecars) instead of a protection mode.
 */
import { runLoad, type LoadReport, type Phase, type RequestClass, type SessionPlan } from '../loadgen/index.js';
import { StatePoller, type PollTargets } from './poller.js';
import type { ScenarioOptions, StateSample, TimelineEvent } from './types.js';

export interface Action {
  /** Seconds after the load starts. */
  at: number;
  label: string;
  run(): Promise<void>;
}

export interface LoadRunResult {
  report: LoadReport;
  samples: StateSample[];
  events: TimelineEvent[];
  /** [from, to) seconds of each phase by name. */
  phase(name: string): [number, number];
}

export async function loadWithActions(
  spec: { target: string; classes: RequestClass[]; phases: Phase[]; sessions?: SessionPlan; poll: PollTargets; actions: Action[] },
  opts: ScenarioOptions,
): Promise<LoadRunResult> {
  const poller = new StatePoller(spec.poll);
  const t0 = Date.now();
  poller.start(t0);
  const done = spec.actions.map(
    (a) =>
      new Promise<void>((resolve, reject) => {
        setTimeout(() => {
          if (opts.signal.aborted) return resolve();
          opts.log(`    t=${a.at}s ${a.label}`);
          a.run().then(resolve, reject);
        }, a.at * 1000);
      }),
  );
  try {
    const report = await runLoad(
      { target: spec.target, classes: spec.classes, phases: spec.phases, sessions: spec.sessions },
      { signal: opts.signal, onPhase: (p) => opts.log(`    ${p.name} (${p.durationMs / 1000} s)`) },
    );
    await Promise.all(done);
    const bounds = new Map<string, [number, number]>();
    let at = 0;
    for (const p of spec.phases) {
      bounds.set(p.name, [at / 1000, (at + p.durationMs) / 1000]);
      at += p.durationMs;
    }
    return {
      report,
      samples: await poller.stop(),
      events: [
        ...spec.phases.slice(1).map((p) => ({ t: bounds.get(p.name)?.[0] ?? 0, label: p.name })),
        ...spec.actions.map((a) => ({ t: a.at, label: a.label })),
      ],
      phase: (name) => {
        const b = bounds.get(name);
        if (!b) throw new Error(`no phase ${name}`);
        return b;
      },
    };
  } finally {
    await poller.stop();
  }
}
