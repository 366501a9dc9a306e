/** The open-loop load generator: run a plan, get per-second and per-phase records, print them. */
export { runLoad } from './run.js';
export type { LoadPlan, LoadReport, Phase, PhaseSummary, RequestClass, RunOptions, SecondSummary } from './run.js';
export type { SessionPlan } from './sessions.js';
export type { ClassCounts, ClassWindow, SessionCounts, WindowSummary } from './recorder.js';
export { LogHistogram } from './histogram.js';
export { formatMs, formatReasons, formatSummary, formatTable, formatWindow } from './summary.js';
