/** Plain-text tables for load reports (terminal output, docs). */
import type { ClassWindow, WindowSummary } from './recorder.js';
import type { LoadReport } from './run.js';

/** A left-aligned first column and right-aligned others, padded to the widest cell. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function formatMs(ms: number | null): string {
  if (ms === null) return '-';
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)}s`;
  return ms >= 10 ? `${ms.toFixed(0)}ms` : `${ms.toFixed(1)}ms`;
}

/** `capacity:12 load-level:3`, or `-` when nothing was shed. */
export function formatReasons(counts: Record<string, number>): string {
  const parts = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k}:${n}`);
  return parts.length > 0 ? parts.join(' ') : '-';
}

function classRow(name: string, c: ClassWindow): string[] {
  const perSecond = (n: number): string => (c.seconds > 0 ? (n / c.seconds).toFixed(1) : '0');
  return [
    name,
    perSecond(c.sent),
    perSecond(c.succeeded),
    formatReasons(c.shed),
    c.failed > 0 ? `${c.failed} (${formatReasons(c.errors)})` : '0',
    String(c.timeouts),
    String(c.droppedByClient),
    formatMs(c.p50),
    formatMs(c.p99),
    formatMs(c.p999),
  ];
}

const HEADER = ['class', 'sent/s', 'ok/s', 'shed', 'failed', 'timeouts', 'dropped', 'p50', 'p99', 'p99.9'];

/** One window as a table, plus a line about sessions when there were any. */
export function formatWindow(title: string, w: WindowSummary): string {
  const rows = Object.entries(w.classes).map(([name, c]) => classRow(name, c));
  const s = w.sessions;
  const sessions =
    s.connects + s.dropped + s.connectFailures > 0 || s.open > 0
      ? `\nsessions: ${s.open} open at end (min ${s.minOpen}), ${s.dropped} dropped, ${s.connects} connects, ${s.connectFailures} failed connects`
      : '';
  return `${title} (seconds ${w.fromSecond}-${w.toSecond})\n${formatTable(HEADER, rows)}${sessions}`;
}

/** Every phase of a run, one table each. */
export function formatSummary(report: LoadReport): string {
  return report.phases.map((p) => formatWindow(`${p.name} @ ${report.target}`, p)).join('\n\n');
}
