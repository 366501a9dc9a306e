/**
 * The scenario picture: one column per protection mode, four rows sharing each row's scale across
 * modes so the columns compare at a glance — goodput/s per class, p99 per class (log scale),
 * refused and unanswered per second, open sessions with the sidecar's load level. Vertical
 * markers show the scenario's events. Rendered headless with @napi-rs/canvas.
 */
import { createCanvas, type SKRSContext2D } from '@napi-rs/canvas';
import { modeLabel, type ModeResult, type ScenarioResult } from './types.js';

const COL_W = 520;
const ROW_H = 165;
const PAD = { left: 58, right: 46, top: 22, bottom: 22 };
const HEADER_H = 64;
const FONT = 'DejaVu Sans';
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2'];

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

interface Series {
  label: string;
  color: string;
  points: Array<[number, number | null]>;
  dashed?: boolean;
  step?: boolean;
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function text(ctx: SKRSContext2D, s: string, x: number, y: number, size = 11, color = '#333', align: CanvasTextAlign = 'left'): void {
  ctx.font = `${size}px "${FONT}"`;
  ctx.fillStyle = color;
  ctx.textAlign = align;
  ctx.fillText(s, x, y);
}

function frame(ctx: SKRSContext2D, box: Box, title: string): void {
  ctx.strokeStyle = '#bbb';
  ctx.lineWidth = 1;
  ctx.strokeRect(box.x, box.y, box.w, box.h);
  text(ctx, title, box.x, box.y - 6, 11, '#222');
}

/** Draws series in `box` with x in [0, xMax] seconds and y from `yAxis`; returns nothing. */
function plot(ctx: SKRSContext2D, box: Box, xMax: number, yAxis: { max: number; log?: boolean; min?: number }, series: Series[]): void {
  const sx = (t: number): number => box.x + (t / xMax) * box.w;
  const sy = (v: number): number => {
    if (yAxis.log) {
      const lo = Math.log10(yAxis.min ?? 1);
      const hi = Math.log10(yAxis.max);
      const f = (Math.log10(Math.max(v, yAxis.min ?? 1)) - lo) / (hi - lo);
      return box.y + box.h - f * box.h;
    }
    return box.y + box.h - (v / yAxis.max) * box.h;
  };
  ctx.save();
  ctx.beginPath();
  ctx.rect(box.x, box.y, box.w, box.h);
  ctx.clip();
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 1.6;
    ctx.setLineDash(s.dashed ? [5, 3] : []);
    ctx.beginPath();
    let pen = false;
    let lastY = 0;
    for (const [t, v] of s.points) {
      if (v === null) {
        pen = false;
        continue;
      }
      const x = sx(t);
      const y = sy(v);
      if (!pen) ctx.moveTo(x, y);
      else if (s.step) {
        ctx.lineTo(x, lastY);
        ctx.lineTo(x, y);
      } else ctx.lineTo(x, y);
      pen = true;
      lastY = y;
    }
    ctx.stroke();
  }
  ctx.restore();
  ctx.setLineDash([]);
}

function yTicks(ctx: SKRSContext2D, box: Box, axis: { max: number; log?: boolean; min?: number }, fmt: (v: number) => string, right = false): void {
  const values = axis.log
    ? [1, 10, 100, 1000, 10000].filter((v) => v >= (axis.min ?? 1) && v <= axis.max)
    : [0, axis.max / 2, axis.max];
  for (const v of values) {
    const f = axis.log ? (Math.log10(v) - Math.log10(axis.min ?? 1)) / (Math.log10(axis.max) - Math.log10(axis.min ?? 1)) : v / axis.max;
    const y = box.y + box.h - f * box.h;
    ctx.strokeStyle = '#eee';
    ctx.beginPath();
    ctx.moveTo(box.x + 1, y);
    ctx.lineTo(box.x + box.w - 1, y);
    ctx.stroke();
    if (right) text(ctx, fmt(v), box.x + box.w + 4, y + 4, 10, '#666');
    else text(ctx, fmt(v), box.x - 4, y + 4, 10, '#666', 'right');
  }
}

function xTicks(ctx: SKRSContext2D, box: Box, xMax: number): void {
  const step = xMax > 60 ? 10 : 5;
  for (let t = 0; t <= xMax; t += step) {
    const x = box.x + (t / xMax) * box.w;
    text(ctx, `${t}s`, x, box.y + box.h + 13, 10, '#666', 'center');
  }
}

function events(ctx: SKRSContext2D, box: Box, xMax: number, r: ModeResult, labels: boolean): void {
  const placed: number[] = [];
  for (const e of [...r.events].sort((a, b) => a.t - b.t)) {
    const x = box.x + (e.t / xMax) * box.w;
    ctx.strokeStyle = '#999';
    ctx.setLineDash([2, 3]);
    ctx.beginPath();
    ctx.moveTo(x, box.y);
    ctx.lineTo(x, box.y + box.h);
    ctx.stroke();
    ctx.setLineDash([]);
    // Labels of nearby events stack downwards instead of overprinting.
    const row = placed.filter((px) => x - px < 100).length;
    placed.push(x);
    if (labels) text(ctx, e.label, x + 3, box.y + 11 + row * 11, 10, '#777');
  }
}

const fmtNum = (v: number): string => (v >= 1000 ? `${(v / 1000).toFixed(v >= 10000 ? 0 : 1)}k` : v % 1 === 0 ? String(v) : v.toFixed(1));
const fmtMsTick = (v: number): string => (v >= 1000 ? `${v / 1000}s` : `${v}ms`);

/** Extra gauges recorded by the poller (e.g. a class limit), plotted with the load level. */
function extraKeys(r: ModeResult): string[] {
  const keys = new Set<string>();
  for (const s of r.samples) for (const k of Object.keys(s.extra ?? {})) keys.add(k);
  return [...keys];
}

export function renderChart(result: ScenarioResult): Buffer {
  const cols = result.modes.length;
  // A single-mode picture gets a wider column, so the title and legend fit.
  const colW = cols === 1 ? 2 * COL_W : COL_W;
  const width = cols * colW;
  const rowsY = [0, 1, 2, 3].map((i) => HEADER_H + i * ROW_H);
  const height = HEADER_H + 4 * ROW_H + 6;
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);

  const verdict = result.pass ? 'PASS' : 'FAIL';
  text(ctx, `${result.title}${result.quick ? ' (quick)' : ''} — Spillway ${verdict}`, 10, 20, 15, result.pass ? '#1a7f37' : '#b42318');
  const colors = new Map(result.classes.map((c, i) => [c, PALETTE[i % PALETTE.length]]));
  let lx = 10;
  for (const [c, color] of colors) {
    ctx.fillStyle = color;
    ctx.fillRect(lx, 32, 14, 4);
    text(ctx, c, lx + 18, 38, 11);
    lx += 28 + ctx.measureText(c).width;
  }
  text(ctx, 'solid: refused (503/429) · dashed: timed out / failed · sessions: grey · load level: black step', lx + 10, 38, 10, '#666');

  const xMax = Math.max(...result.modes.map((r) => Math.max(r.timeline.length, ...r.samples.map((s) => s.t))), 1);
  const maxOf = (f: (r: ModeResult) => number[]): number => Math.max(0, ...result.modes.flatMap(f));
  const goodMax = niceMax(1.05 * maxOf((r) => r.timeline.flatMap((s) => Object.values(s.classes).map((c) => c.goodput))));
  const p99Max = niceMax(1.5 * Math.max(100, maxOf((r) => r.timeline.flatMap((s) => Object.values(s.classes).map((c) => c.p99 ?? 0)))));
  const shedMax = niceMax(1.05 * maxOf((r) => r.timeline.flatMap((s) => Object.values(s.classes).flatMap((c) => [c.refused, c.failed]))));
  const sessMax = niceMax(1.05 * maxOf((r) => r.timeline.map((s) => s.sessionsOpen)));
  const extraMax = niceMax(1.1 * maxOf((r) => r.samples.flatMap((s) => Object.values(s.extra ?? {}))));

  result.modes.forEach((r, col) => {
    const x0 = col * colW + PAD.left;
    const w = colW - PAD.left - PAD.right;
    const box = (row: number): Box => ({ x: x0, y: rowsY[row] + PAD.top, w, h: ROW_H - PAD.top - PAD.bottom });
    const verdictText = r.pass ? 'pass' : 'fail';
    const per = (f: (c: { goodput: number; p99: number | null; refused: number; failed: number }) => number | null) =>
      result.classes.map((name) => r.timeline.map((s): [number, number | null] => [s.t + 0.5, s.classes[name] ? f(s.classes[name]) : null]));

    const b0 = box(0);
    frame(ctx, b0, `${modeLabel(r)} (${verdictText}) — goodput/s per class`);
    yTicks(ctx, b0, { max: goodMax }, fmtNum);
    events(ctx, b0, xMax, r, true);
    plot(ctx, b0, xMax, { max: goodMax }, per((c) => c.goodput).map((points, i) => ({ label: result.classes[i], color: colors.get(result.classes[i]) ?? '#000', points })));

    const b1 = box(1);
    frame(ctx, b1, 'p99 latency of successes (log)');
    yTicks(ctx, b1, { max: p99Max, log: true, min: 1 }, fmtMsTick);
    events(ctx, b1, xMax, r, false);
    plot(ctx, b1, xMax, { max: p99Max, log: true, min: 1 }, per((c) => c.p99).map((points, i) => ({ label: result.classes[i], color: colors.get(result.classes[i]) ?? '#000', points })));

    const b2 = box(2);
    frame(ctx, b2, 'refused/s (solid), timed out or failed/s (dashed)');
    yTicks(ctx, b2, { max: shedMax }, fmtNum);
    events(ctx, b2, xMax, r, false);
    plot(ctx, b2, xMax, { max: shedMax }, [
      ...per((c) => c.refused).map((points, i) => ({ label: result.classes[i], color: colors.get(result.classes[i]) ?? '#000', points })),
      ...per((c) => c.failed).map((points, i) => ({ label: result.classes[i], color: colors.get(result.classes[i]) ?? '#000', points, dashed: true })),
    ]);

    const b3 = box(3);
    const keys = extraKeys(r);
    const levelLabel = keys.length > 0 ? `load level / ${keys.join(', ')}` : 'load level';
    frame(ctx, b3, `open sessions (grey, left) · ${levelLabel} (right)`);
    yTicks(ctx, b3, { max: sessMax }, fmtNum);
    const rightMax = keys.length > 0 ? Math.max(3, extraMax) : 3;
    yTicks(ctx, b3, { max: rightMax }, fmtNum, true);
    events(ctx, b3, xMax, r, false);
    xTicks(ctx, b3, xMax);
    plot(ctx, b3, xMax, { max: sessMax }, [
      { label: 'sessions', color: '#888', points: r.timeline.map((s) => [s.t + 1, s.sessionsOpen]) },
    ]);
    plot(ctx, b3, xMax, { max: rightMax }, [
      { label: 'load level', color: '#000', step: true, points: r.samples.map((s) => [s.t, s.loadLevel]) },
      ...keys.map((k, i) => ({ label: k, color: PALETTE[(i + 3) % PALETTE.length], step: true, points: r.samples.map((s): [number, number | null] => [s.t, s.extra?.[k] ?? null]) })),
    ]);
    if (r.mode !== 'spillway') text(ctx, '(no load level without a sidecar)', b3.x + b3.w - 4, b3.y + 12, 10, '#999', 'right');
  });
  return canvas.toBuffer('image/png');
}
