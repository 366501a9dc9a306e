/**
 * The seams between the sidecar's parts: the inbound data plane, the egress, the config
 * sources and the admin server depend on these shapes, not on each other's classes.
 */
import type { CompiledConfig } from '../api/config.js';
import type { ShadowOutcome } from './admission/outcomes.js';

export interface ClassState {
  name: string;
  priority: number;
  /** The limit this pod enforces now (Cluster share, warm-up applied). */
  limit: number;
  inflight: number;
  queued: number;
  queueSize: number;
  shedAtLevel: number | null;
  /** In-flight requests beyond the class's own limit (slots borrowed from other classes). */
  borrowed: number;
  /** Shadow: nothing refused or queued, would-be outcomes counted. */
  mode: 'Enforce' | 'Shadow';
  /**
   * Shadow: what Enforce would have done, by would-be outcome, counted as
   * spillway_shadow_requests_total{class} counts it (cumulative); null in Enforce.
   */
  wouldBe: Record<ShadowOutcome, number> | null;
  /** Flows holding a slot or queue place (fairness), else null. */
  flows: number | null;
}

export interface DataPlaneState {
  /** 0..3 */
  loadLevel: number;
  /** In-flight over limits of the classes that affect the load level. */
  utilisation: number;
  /** Established WebSocket sessions (they hold no request slot). */
  sessions: number;
  /** Version of the config in force; 0 before any. */
  configVersion: number;
  classes: ClassState[];
}

/** What config sources drive and what the admin server and the egress read. */
export interface DataPlane {
  /** A new config applies to new requests at once; admitted work finishes under the old one. */
  apply(config: CompiledConfig): void;
  /** Back to the sidecar's configured default (the policy key was deleted). */
  clear(): void;
  state(): DataPlaneState;
  /** Cheap: read on every egress send. */
  loadLevel(): number;
}

export type ConfigSourceKind = 'file' | 'redis' | 'state-dir';

export interface EffectiveConfig {
  config: CompiledConfig;
  source: ConfigSourceKind;
  appliedAt: Date;
}
