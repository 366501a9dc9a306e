/** The egress: see server.ts for the pipeline and docs/egress.md. */
export { Egress, type EgressOptions, type EgressRouteState, type EgressState, type EgressVendorState } from './server.js';
export type { DeferredSend, Deferrer, ReplayOutcome } from './contracts.js';
