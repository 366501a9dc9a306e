/** Results: a plain-text table on stdout and JSON in bench/results/<name>.json. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './targets.js';

export type Cell = string | number | null;
export type Row = Record<string, Cell>;

export interface BenchReport {
  name: string;
  /** What a row is and how it was measured, in a sentence or two. */
  description: string;
  rows: Row[];
  /** The numbers compared with the targets. */
  summary: Row[];
  notes: string[];
}

function fmt(v: Cell): string {
  if (v === null) return '-';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return String(v);
    if (Number.isInteger(v)) return String(v);
    return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(3);
  }
  return v;
}

export function table(rows: Row[]): string {
  if (rows.length === 0) return '(no rows)\n';
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cells = rows.map((r) => cols.map((c) => fmt(r[c] ?? null)));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const line = (vals: string[]): string => '| ' + vals.map((v, i) => v.padEnd(widths[i])).join(' | ') + ' |';
  return [line(cols), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...cells.map(line)].join('\n') + '\n';
}

export function machine(): Row {
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  return {
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    loadavgAtStart: load,
    date: new Date().toISOString(),
  };
}

export function print(r: BenchReport): void {
  process.stdout.write(`\n== ${r.name} ==\n${r.description}\n\n${table(r.rows)}`);
  if (r.summary.length > 0) process.stdout.write(`\nsummary:\n${table(r.summary)}`);
  for (const n of r.notes) process.stdout.write(`note: ${n}\n`);
}

export function save(r: BenchReport, env: Row): string {
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${r.name}.json`);
  writeFileSync(file, JSON.stringify({ ...r, machine: env }, null, 2) + '\n');
  return file;
}

export function median(xs: number[]): number {
  const s = xs.filter((x) => typeof x === 'number' && !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** "met" when `ratio` ≤ `limit` (or < it when `strict`), "MISSED" above, "not measured" without a number. */
export function ratioVerdict(ratio: number, limit: number, strict = false): string {
  if (!Number.isFinite(ratio)) return 'not measured';
  return (strict ? ratio < limit : ratio <= limit) ? 'met' : 'MISSED';
}

/** The verdict of a "CPU per request ≤ limit ×" target, under wrk and at the fixed rate. */
export function cpuRatioVerdict(wrkRatio: number, fixedRateRatio: number, limit: number): string {
  return `wrk: ${ratioVerdict(wrkRatio, limit)}; fixed rate: ${ratioVerdict(fixedRateRatio, limit)}`;
}
