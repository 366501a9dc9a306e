/**
 * The sidecar's tunable engine limits and access-log modes: flag, environment variable, bounds
 * and default of each. One table for the two sides that must agree on them: the sidecar's flag
 * parser (sidecar/config/flags.ts) and the operator's webhook (operator/webhook.ts), which sets
 * the variables in injected pods from the chart's values and the pod's annotations. Pure data.
 */

export interface LimitSpec {
  /** The sidecar flag without its dashes; also the pod annotation's name after `spillway.io/`. */
  flag: string;
  env: string;
  min: number;
  max: number;
  /** The engine's default (sidecar/http1/server.ts DEFAULT_LIMITS; a unit test keeps them equal). */
  def: number;
}

export const SIDECAR_LIMITS = {
  maxClientConnections: { flag: 'max-client-connections', env: 'SPILLWAY_MAX_CLIENT_CONNECTIONS', min: 1, max: 1_000_000, def: 10_000 },
  headerTimeoutMs: { flag: 'header-timeout-ms', env: 'SPILLWAY_HEADER_TIMEOUT_MS', min: 100, max: 600_000, def: 10_000 },
  idleTimeoutMs: { flag: 'idle-timeout-ms', env: 'SPILLWAY_IDLE_TIMEOUT_MS', min: 100, max: 3_600_000, def: 5_000 },
  bodyTimeoutMs: { flag: 'body-timeout-ms', env: 'SPILLWAY_BODY_TIMEOUT_MS', min: 1000, max: 3_600_000, def: 300_000 },
  maxHeaderBytes: { flag: 'max-header-bytes', env: 'SPILLWAY_MAX_HEADER_BYTES', min: 1024, max: 1024 * 1024, def: 16 * 1024 },
  maxHeaderCount: { flag: 'max-header-count', env: 'SPILLWAY_MAX_HEADER_COUNT', min: 8, max: 10_000, def: 100 },
} as const satisfies Record<string, LimitSpec>;

export type SidecarLimitKey = keyof typeof SIDECAR_LIMITS;
export type SidecarLimits = Record<SidecarLimitKey, number>;
export const SIDECAR_LIMIT_KEYS = Object.keys(SIDECAR_LIMITS) as SidecarLimitKey[];

export const ACCESS_LOG_MODES = ['off', 'refusals', 'all'] as const;
export type AccessLogMode = (typeof ACCESS_LOG_MODES)[number];
export const ACCESS_LOG = { flag: 'access-log', env: 'SPILLWAY_ACCESS_LOG', def: 'off' } as const satisfies { flag: string; env: string; def: AccessLogMode };
