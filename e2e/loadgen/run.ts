/**
 * The open-loop load generator. Each class has a fixed arrival rate per phase; every request is
 * sent at its scheduled time whether or not earlier ones have answered (as real users do), so a
 * slow target faces a growing pile of requests instead of a politely slowing client. Latency is
 * measured from the scheduled time, so a late send is not hidden. Bounded: it stops by itself
 * after the last phase plus at most one client timeout.
 */
import { Agent, request, type IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Recorder, type WindowSummary } from './recorder.js';
import { SessionPool, type SessionPlan } from './sessions.js';

export interface RequestClass {
  name: string;
  method: string;
  /** Path with query, e.g. `/login` or `/socket.io/?transport=polling`. */
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Client timeout: after it the request is abandoned and counted as a timeout (default 2000 ms). */
  timeoutMs?: number;
  /** At most this many in flight; arrivals beyond it are counted as `droppedByClient` (default 1000). */
  maxInFlight?: number;
  /** Re-send a refused request (429/503 with Retry-After) after the delay it asks for, up to maxRetries times. */
  retryAfter?: { maxRetries: number };
}

export interface Phase {
  name: string;
  /** Whole seconds keep the per-second records aligned with phases. */
  durationMs: number;
  /** Requests per second per class name; a class left out sends nothing in this phase. */
  rates: Record<string, number>;
}

export interface LoadPlan {
  /** Base URL, e.g. http://127.0.0.1:17001 */
  target: string;
  classes: RequestClass[];
  phases: Phase[];
  sessions?: SessionPlan;
  /** Scheduler resolution (default 5 ms). */
  tickMs?: number;
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Called as each phase begins. */
  onPhase?: (phase: Phase, index: number) => void;
}

export interface PhaseSummary extends WindowSummary {
  name: string;
}

export interface SecondSummary extends WindowSummary {
  phase: string;
}

export interface LoadReport {
  target: string;
  classes: string[];
  durationMs: number;
  phases: PhaseSummary[];
  seconds: SecondSummary[];
  /** Totals over any span of seconds [from, to) (e.g. a phase without its first second). */
  window(fromSecond: number, toSecond: number): WindowSummary;
}

interface ClassRuntime {
  spec: RequestClass;
  agent: Agent;
  timeoutMs: number;
  maxInFlight: number;
  inflight: number;
  /** Offset within one inter-arrival interval, so classes do not fire in lockstep. */
  phase0: number;
  /** Position of the next arrival: phase index and arrival number within it. */
  phaseIndex: number;
  k: number;
  nextAt: number;
}

const DEFAULT_TIMEOUT_MS = 2000;
const DEFAULT_MAX_IN_FLIGHT = 1000;

function retryAfterMs(res: IncomingMessage): number | null {
  const raw = res.headers['retry-after'];
  if (raw === undefined) return null;
  const s = Number(raw);
  return Number.isFinite(s) && s >= 0 ? s * 1000 : null;
}

function phaseIndexAt(starts: number[], ms: number): number {
  let i = 0;
  while (i + 1 < starts.length && starts[i + 1] <= ms) i++;
  return i;
}

export async function runLoad(plan: LoadPlan, options: RunOptions = {}): Promise<LoadReport> {
  const target = new URL(plan.target);
  if (target.protocol !== 'http:') throw new Error('loadgen: only http:// targets');
  const names = plan.classes.map((c) => c.name);
  if (new Set(names).size !== names.length) throw new Error('loadgen: class names must be unique');
  for (const p of plan.phases) {
    for (const name of Object.keys(p.rates)) {
      if (!names.includes(name)) throw new Error(`loadgen: phase ${p.name} has a rate for unknown class ${name}`);
    }
  }
  const starts: number[] = [];
  let endMs = 0;
  for (const p of plan.phases) {
    starts.push(endMs);
    endMs += p.durationMs;
  }
  const recorder = new Recorder(names);
  const t0 = performance.now();
  const now = (): number => performance.now() - t0;
  const secondOf = (ms: number): number => Math.floor(ms / 1000);

  const classes: ClassRuntime[] = plan.classes.map((spec, i) => {
    const maxInFlight = spec.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    return {
      spec,
      agent: new Agent({ keepAlive: true, maxSockets: maxInFlight, maxFreeSockets: maxInFlight }),
      timeoutMs: spec.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      maxInFlight,
      inflight: 0,
      phase0: (i + 0.5) / plan.classes.length,
      phaseIndex: 0,
      k: 0,
      nextAt: 0,
    };
  });

  /** Moves c.nextAt to its next arrival at or after the current (phaseIndex, k); Infinity when done. */
  function schedule(c: ClassRuntime): void {
    while (c.phaseIndex < plan.phases.length) {
      const p = plan.phases[c.phaseIndex];
      const rate = p.rates[c.spec.name] ?? 0;
      if (rate > 0) {
        const at = starts[c.phaseIndex] + ((c.k + c.phase0) * 1000) / rate;
        if (at < starts[c.phaseIndex] + p.durationMs) {
          c.nextAt = at;
          return;
        }
      }
      c.phaseIndex++;
      c.k = 0;
    }
    c.nextAt = Infinity;
  }

  const retryTimers = new Set<NodeJS.Timeout>();
  let stopped = false;

  function fire(c: ClassRuntime, scheduledAt: number, attempt: number): void {
    const second = secondOf(scheduledAt);
    const name = c.spec.name;
    if (c.inflight >= c.maxInFlight) {
      recorder.droppedByClient(second, name);
      return;
    }
    c.inflight++;
    recorder.sent(second, name);
    if (attempt > 0) recorder.retry(second, name);
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      c.inflight--;
      clearTimeout(timer);
      return true;
    };
    const req = request(
      {
        agent: c.agent,
        hostname: target.hostname,
        port: target.port,
        method: c.spec.method,
        path: c.spec.path,
        headers: c.spec.headers,
      },
      (res) => {
        res.resume();
        res.once('error', () => {
          if (settle()) recorder.failed(second, name, 'response-error');
        });
        res.once('end', () => {
          if (!settle()) return;
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            recorder.succeeded(second, name, now() - scheduledAt);
            return;
          }
          const reason = res.headers['x-spillway-reason'];
          if (typeof reason === 'string') {
            recorder.shed(second, name, reason);
            maybeRetry(c, res, attempt);
          } else {
            recorder.failed(second, name, String(status));
          }
        });
      },
    );
    const timer = setTimeout(() => {
      if (!settle()) return;
      recorder.timeout(second, name);
      req.destroy();
    }, c.timeoutMs);
    req.once('error', (err: NodeJS.ErrnoException) => {
      if (settle()) recorder.failed(second, name, err.code ?? 'error');
    });
    req.end(c.spec.body);
  }

  function maybeRetry(c: ClassRuntime, res: IncomingMessage, attempt: number): void {
    const policy = c.spec.retryAfter;
    if (!policy || attempt >= policy.maxRetries || stopped) return;
    if (res.statusCode !== 429 && res.statusCode !== 503) return;
    const delay = retryAfterMs(res);
    if (delay === null) return;
    const at = now() + delay;
    if (at >= endMs) return;
    const timer = setTimeout(() => {
      retryTimers.delete(timer);
      if (!stopped) fire(c, at, attempt + 1);
    }, delay);
    retryTimers.add(timer);
  }

  const sessions = plan.sessions ? new SessionPool(target, plan.sessions, recorder, now) : null;
  sessions?.start();
  for (const c of classes) schedule(c);

  let phaseSeen = -1;
  let lastSecond = -1;
  await new Promise<void>((resolve) => {
    const onAbort = (): void => finish();
    const ticker = setInterval(tick, plan.tickMs ?? 5);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    function finish(): void {
      clearInterval(ticker);
      options.signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function tick(): void {
      const t = now();
      while (phaseSeen + 1 < plan.phases.length && t >= starts[phaseSeen + 1]) {
        phaseSeen++;
        options.onPhase?.(plan.phases[phaseSeen], phaseSeen);
      }
      for (const c of classes) {
        while (c.nextAt <= t) {
          fire(c, c.nextAt, 0);
          c.k++;
          schedule(c);
        }
      }
      const second = secondOf(Math.min(t, endMs - 1));
      if (sessions && second !== lastSecond) {
        sessions.checkHeartbeats();
        lastSecond = second;
      }
      if (sessions) recorder.sessionsOpen(second, sessions.open());
      if (t >= endMs || options.signal?.aborted) finish();
    }
  });

  // Let what is in flight answer or time out (each request has its own timer), then tear down.
  stopped = true;
  for (const t of retryTimers) clearTimeout(t);
  const drainUntil = now() + Math.max(...classes.map((c) => c.timeoutMs), 0) + 500;
  while (classes.some((c) => c.inflight > 0) && now() < drainUntil) {
    await new Promise((r) => setTimeout(r, 20));
  }
  await sessions?.stop();
  for (const c of classes) c.agent.destroy();

  const seconds = Math.ceil(endMs / 1000);
  return {
    target: plan.target,
    classes: names,
    durationMs: endMs,
    phases: plan.phases.map((p, i) => ({
      name: p.name,
      ...recorder.window(Math.floor(starts[i] / 1000), Math.ceil((starts[i] + p.durationMs) / 1000)),
    })),
    seconds: Array.from({ length: seconds }, (_, s) => ({
      phase: plan.phases[phaseIndexAt(starts, s * 1000)].name,
      ...recorder.window(s, s + 1),
    })),
    window: (from, to) => recorder.window(from, to),
  };
}
