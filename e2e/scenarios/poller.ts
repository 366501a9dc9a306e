/**
 * Samples the sidecar's /state (load level) and the chat app's /_admin/stats (backlog) a few
 * times a second while the load runs, so the timeline can show what the proxy saw.
 */
import type { StateSample } from './types.js';

const EVERY_MS = 250;
const ANSWER_WITHIN_MS = 400;

async function getJson(url: string): Promise<Record<string, unknown> | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(ANSWER_WITHIN_MS) });
    return res.ok ? ((await res.json()) as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export interface PollTargets {
  /** e.g. http://127.0.0.1:9901 (GET /state is added). */
  sidecarAdmin?: string;
  /** e.g. http://127.0.0.1:8080 (GET /_admin/stats is added). */
  app?: string;
  /** Extra gauges read on each sample. */
  extra?: () => Promise<Record<string, number>>;
  /** Extra gauges picked from the sidecar's /state (e.g. a class's limit or borrowed slots). */
  fromState?: (state: SidecarState) => Record<string, number>;
}

/** What the gauges read of the sidecar's GET /state. */
export interface SidecarState {
  loadLevel: number;
  classes: Array<{ name: string; limit: number; inflight: number; queued: number; borrowed?: number }>;
}

export class StatePoller {
  readonly samples: StateSample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private t0 = 0;

  constructor(private readonly targets: PollTargets) {}

  /** Starts sampling; `t0` is the load's start (performance.now() clock of Date.now()). */
  start(t0 = Date.now()): void {
    this.t0 = t0;
    this.timer = setInterval(() => void this.sample(), EVERY_MS);
  }

  private async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    const t = (Date.now() - this.t0) / 1000;
    const [state, stats, extra] = await Promise.all([
      this.targets.sidecarAdmin ? getJson(`${this.targets.sidecarAdmin}/state`) : Promise.resolve(null),
      this.targets.app ? getJson(`${this.targets.app}/_admin/stats`) : Promise.resolve(null),
      this.targets.extra ? this.targets.extra().catch(() => undefined) : Promise.resolve(undefined),
    ]);
    const level = state?.loadLevel;
    const pool = stats?.pool as { backlog?: number } | undefined;
    const picked = state && Array.isArray(state.classes) && this.targets.fromState ? this.targets.fromState(state as unknown as SidecarState) : undefined;
    const gauges = extra || picked ? { ...extra, ...picked } : undefined;
    this.samples.push({
      t,
      loadLevel: typeof level === 'number' ? level : null,
      appBacklog: typeof pool?.backlog === 'number' ? pool.backlog : null,
      ...(gauges ? { extra: gauges } : {}),
    });
    this.busy = false;
  }

  async stop(): Promise<StateSample[]> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    while (this.busy) await new Promise((r) => setTimeout(r, 20));
    return this.samples;
  }
}
