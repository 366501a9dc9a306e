/**
 * Open-loop notification sends for the vendor scenarios: a fixed rate of `POST <target>/push/send`,
 * each with its own `Idempotency-Key` (the shared load generator sends one fixed request per
 * class, and duplicates can only be counted per key). Records per second: 2xx answers by the
 * vendor that gave them (`x-vendor`), refusals, failures, timeouts and latency.
 */
import { Agent, request } from 'node:http';
import { LogHistogram } from '../loadgen/index.js';
import type { TimelineSecond } from './types.js';

export interface SendSecond {
  sent: number;
  ok: number;
  /** 202: stored for later delivery (Spillway's deferral). */
  deferred: number;
  byVendor: Record<string, number>;
  refused: number;
  failed: number;
  timeouts: number;
  /** Longest time any send of this second was held before its answer or its timeout. */
  maxHeldMs: number;
  latency: LogHistogram;
}

export interface SendPlan {
  target: string;
  ratePerSecond: number;
  durationS: number;
  timeoutMs: number;
  keyPrefix: string;
  /** When given, each key's answer: status and `x-spillway-reason` ('' without), or 'timeout'/'error'. */
  ledger?: Map<string, string>;
  /** When given, each key's answer time in ms since `origin` (not written for timeouts/errors). */
  answeredAt?: Map<string, number>;
  /** performance.now() of t=0, so callers can time their own events on the same clock. Default: now. */
  origin?: number;
}

const BODY = JSON.stringify({ to: 'user', text: 'goal!' });

export async function runSends(plan: SendPlan, signal: AbortSignal): Promise<SendSecond[]> {
  const url = new URL('/push/send', plan.target);
  const agent = new Agent({ keepAlive: true, maxSockets: 2000 });
  const seconds: SendSecond[] = Array.from({ length: plan.durationS }, () => ({
    sent: 0, ok: 0, deferred: 0, byVendor: {}, refused: 0, failed: 0, timeouts: 0, maxHeldMs: 0, latency: new LogHistogram(),
  }));
  let inflight = 0;
  const t0 = plan.origin ?? performance.now();
  const total = plan.ratePerSecond * plan.durationS;
  let n = 0;

  const fire = (k: number, dueAt: number): void => {
    const sec = seconds[Math.min(Math.floor(dueAt / 1000), seconds.length - 1)];
    sec.sent++;
    inflight++;
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      inflight--;
      clearTimeout(timer);
      sec.maxHeldMs = Math.max(sec.maxHeldMs, performance.now() - t0 - dueAt);
      return true;
    };
    const key = `${plan.keyPrefix}-${k}`;
    const note = (outcome: string): void => {
      plan.ledger?.set(key, outcome);
    };
    const req = request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'idempotency-key': key } },
      (res) => {
        res.resume();
        res.once('end', () => {
          if (!settle()) return;
          const status = res.statusCode ?? 0;
          const reason = res.headers['x-spillway-reason'];
          note(`${status}${typeof reason === 'string' ? ` ${reason}` : ''}`);
          plan.answeredAt?.set(key, performance.now() - t0);
          if (status === 202) sec.deferred++;
          else if (status >= 200 && status < 300) {
            sec.ok++;
            const v = String(res.headers['x-vendor'] ?? '?');
            sec.byVendor[v] = (sec.byVendor[v] ?? 0) + 1;
            sec.latency.record(performance.now() - t0 - dueAt);
          } else if (status === 429 || status === 503) sec.refused++;
          else sec.failed++;
        });
        res.once('error', () => settle() && (note('error'), sec.failed++));
      },
    );
    const timer = setTimeout(() => {
      if (!settle()) return;
      note('timeout');
      sec.timeouts++;
      req.destroy();
    }, plan.timeoutMs);
    req.once('error', () => settle() && (note('error'), sec.failed++));
    req.end(BODY);
  };

  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const now = performance.now() - t0;
      while (n < total && (n * 1000) / plan.ratePerSecond <= now) {
        fire(n, (n * 1000) / plan.ratePerSecond);
        n++;
      }
      if (n >= total || signal.aborted) {
        clearInterval(tick);
        resolve();
      }
    }, 5);
  });
  const drainUntil = performance.now() + plan.timeoutMs + 500;
  while (inflight > 0 && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 20));
  agent.destroy();
  return seconds;
}

/** The chart's view: one "class" per vendor (2xx answered by it) plus the sends' refusals and failures. */
export function sendTimeline(seconds: SendSecond[], vendors: string[]): TimelineSecond[] {
  return seconds.map((s, t) => {
    const classes: TimelineSecond['classes'] = {
      sends: { goodput: s.ok, p99: s.latency.percentile(0.99), refused: s.refused, failed: s.failed + s.timeouts },
    };
    classes.deferred = { goodput: s.deferred, p99: null, refused: 0, failed: 0 };
    for (const v of vendors) classes[`via ${v}`] = { goodput: s.byVendor[v] ?? 0, p99: null, refused: 0, failed: 0 };
    return { t, classes, sessionsOpen: 0 };
  });
}
