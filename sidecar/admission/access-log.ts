/**
 * The opt-in access log (`--access-log off|refusals|all`), sampled so a storm cannot flood the
 * log: at most `linesPerSecond` lines in each one-second window; the lines over it are counted
 * and the count is logged once when the window ends. `off` builds no AccessLog at all: the
 * hot path tests one field against null.
 *
 * - refusal lines (`refusals` and `all`): every answer from the refusal table — class (or
 *   route), reason, status, method, path, loadLevel (`level` is the log line's own);
 * - end lines (`all` only): every request that held or waited for a permit, when it ends —
 *   class, outcome, status, method, path, loadLevel, durationMs.
 */
import type { Logger } from '../../lib/log.js';
import { ACCESS_LOG_MODES, type AccessLogMode } from '../../lib/sidecar-limits.js';
import type { Outcome, RefusalReason } from './outcomes.js';

export function isAccessLogMode(s: string): s is AccessLogMode {
  return (ACCESS_LOG_MODES as readonly string[]).includes(s);
}

export const DEFAULT_LINES_PER_SECOND = 100;
const WINDOW_MS = 1000;
/** Client-controlled strings are cut to this many characters in a line. */
const MAX_FIELD = 256;

/** Per-second line budget; pure, time passed in. */
export class LineSampler {
  private windowStart = -Infinity;
  private written = 0;
  private suppressed = 0;

  constructor(readonly linesPerSecond: number) {}

  /** Ends the window once a second has passed since it began: returns how many lines it suppressed. */
  roll(nowMs: number): number {
    if (nowMs - this.windowStart < WINDOW_MS) return 0;
    const s = this.suppressed;
    this.windowStart = nowMs;
    this.written = 0;
    this.suppressed = 0;
    return s;
  }

  /** Whether one more line fits in the current window (call roll() first). */
  take(): boolean {
    if (this.written < this.linesPerSecond) {
      this.written++;
      return true;
    }
    this.suppressed++;
    return false;
  }
}

export interface AccessLogOptions {
  mode: Exclude<AccessLogMode, 'off'>;
  logger: Logger;
  linesPerSecond?: number;
  /** ms clock; default Date.now. */
  now?: () => number;
}

export class AccessLog {
  /** Whether end lines are written (mode `all`). */
  readonly ends: boolean;
  private readonly sampler: LineSampler;
  private readonly logger: Logger;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;

  constructor(o: AccessLogOptions) {
    this.ends = o.mode === 'all';
    this.logger = o.logger;
    this.now = o.now ?? Date.now;
    this.sampler = new LineSampler(o.linesPerSecond ?? DEFAULT_LINES_PER_SECOND);
  }

  /** Reports suppressed lines even when no new line comes to roll the window. */
  start(): void {
    this.timer = setInterval(() => this.flush(this.now()), WINDOW_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.flush(Infinity);
  }

  refused(name: string, reason: RefusalReason, status: number, method: string | undefined, path: string | undefined, level: number): void {
    if (!this.admit()) return;
    this.logger.info('refused', { class: name, reason, status, method: cut(method), path: cut(path), loadLevel: level });
  }

  ended(
    name: string,
    outcome: Outcome,
    status: number,
    method: string | undefined,
    path: string | undefined,
    level: number,
    durationMs: number,
  ): void {
    if (!this.admit()) return;
    this.logger.info('request', {
      class: name,
      outcome,
      status,
      method: cut(method),
      path: cut(path),
      loadLevel: level,
      durationMs: Math.round(durationMs * 10) / 10,
    });
  }

  /** Logs the count of the last window's suppressed lines, if its second is over. */
  flush(nowMs: number): void {
    const suppressed = this.sampler.roll(nowMs);
    if (suppressed > 0) this.logger.warn('access log lines suppressed', { suppressed, linesPerSecond: this.sampler.linesPerSecond });
  }

  private admit(): boolean {
    this.flush(this.now());
    return this.sampler.take();
  }
}

function cut(s: string | undefined): string {
  if (s === undefined) return '';
  return s.length > MAX_FIELD ? s.slice(0, MAX_FIELD) : s;
}
