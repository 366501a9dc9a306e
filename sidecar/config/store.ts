/**
 * ConfigStore owns "which config is in force". Sources offer documents; the store validates
 * them, applies the precedence (a remote config from Redis, or its persisted copy, wins over
 * the --policy file; otherwise nothing) and pushes the winner to the data plane.
 *
 * Invariants: an invalid document never replaces a good one (it is logged with the field at
 * fault and counted); a remote config is applied only when its version is strictly newer than
 * every remote version seen before, including across key deletions.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { CompiledConfig } from '../../api/config.js';
import { parseConfig } from '../../api/validate.js';
import type { ConfigSourceKind, DataPlane, EffectiveConfig } from '../contracts.js';
import type { Logger } from '../../lib/log.js';

/** What receives the config in force: the inbound data plane, the egress, the deferrer's routes. */
export type ConfigTarget = Pick<DataPlane, 'apply' | 'clear'>;

export type RemoteSourceKind = Exclude<ConfigSourceKind, 'file'>;

/**
 * Why a document was refused (the `reason` label of spillway_config_rejected_total):
 * `too-large` (over MAX_CONFIG_BYTES, never parsed), `wrong-type` (the Redis key is not a
 * string), `not-json`, `invalid` (the schema, or the policy file), `wrong-target` (another
 * workload's config), `data-plane` (valid, but a target could not enforce it).
 */
export type ConfigRejectReason = 'too-large' | 'wrong-type' | 'not-json' | 'invalid' | 'wrong-target' | 'data-plane';

/** Where applied remote configs are persisted (StateDir); the store never awaits it. */
export interface ConfigPersistence {
  /** `redisRunId`: the Redis process that served it (tells a later restart deletion from data loss). */
  save(config: CompiledConfig, redisRunId: string | undefined): void;
  remove(): void;
}

export interface ConfigStoreOptions {
  targets: ConfigTarget[];
  registry: Registry;
  log: Logger;
  /** The `--config-key` (`ns/target`): a remote document for another target is refused. */
  configKey?: string;
  persistence?: ConfigPersistence;
}

/** The body of `GET /config`. */
export interface ConfigView {
  source: ConfigSourceKind;
  version: number;
  policy: string;
  appliedAt: string;
  config: CompiledConfig;
}

export class ConfigStore {
  private readonly targets: ConfigTarget[];
  private readonly log: Logger;
  private readonly configKey: string | undefined;
  private readonly persistence: ConfigPersistence | undefined;

  private fileConfig: CompiledConfig | null = null;
  private remote: { config: CompiledConfig; source: RemoteSourceKind } | null = null;
  /** Highest remote version ever accepted; -1 before any (versions start at 0). */
  private highestRemote = -1;
  /** Last older version we logged about, so a stale key re-read on every poll logs once. */
  private loggedStale = -1;
  private current: EffectiveConfig | null = null;

  /** The one owner of `spillway_config_version`: the store knows the version in force. */
  private readonly versionGauge: Gauge;
  private readonly applied: Counter<'source'>;
  private readonly rejected: Counter<'source' | 'reason'>;

  constructor(options: ConfigStoreOptions) {
    this.targets = options.targets;
    this.log = options.log;
    this.configKey = options.configKey;
    this.persistence = options.persistence;
    this.versionGauge = new Gauge({ name: 'spillway_config_version', help: 'Version of the config in force (0: none).', registers: [options.registry] });
    this.applied = new Counter({
      name: 'spillway_config_applied_total',
      help: 'Configs put in force, by source.',
      labelNames: ['source'],
      registers: [options.registry],
    });
    this.rejected = new Counter({
      name: 'spillway_config_rejected_total',
      help: 'Config documents refused, by source and reason (too-large, wrong-type, not-json, invalid, wrong-target, data-plane).',
      labelNames: ['source', 'reason'],
      registers: [options.registry],
    });
  }

  /** The config in force, its source and when it was applied; null when unconfigured. */
  effective(): EffectiveConfig | null {
    return this.current;
  }

  view(): ConfigView | null {
    const c = this.current;
    if (!c) return null;
    return { source: c.source, version: c.config.version, policy: c.config.policy, appliedAt: c.appliedAt.toISOString(), config: c.config };
  }

  /** A document a source could not even turn into a config (too large, bad YAML, bad JSON, bad policy). */
  reject(source: ConfigSourceKind, reason: ConfigRejectReason, error: string): void {
    this.rejected.inc({ source, reason });
    this.log.warn('config rejected; the config in force is unchanged', { source, reason, error, inForce: this.inForce() });
  }

  /** A compiled config from the --policy file; the file source numbers versions locally. */
  offerFile(input: unknown): boolean {
    const config = this.validate('file', input);
    if (!config) return false;
    this.fileConfig = config;
    if (this.remote) {
      this.log.info('policy file loaded; a remote config takes precedence', { version: config.version, policy: config.policy });
      return true;
    }
    return this.putInForce(config, 'file');
  }

  /** A document from Redis (or its persisted copy in --state-dir); `redisRunId` is persisted with it. */
  offerRemote(input: unknown, source: RemoteSourceKind, redisRunId?: string): boolean {
    const config = this.validate(source, input);
    if (!config) return false;
    if (this.configKey !== undefined && config.target !== this.configKey) {
      this.reject(source, 'wrong-target', `target: is "${config.target}", expected "${this.configKey}" (the --config-key)`);
      return false;
    }
    if (config.version < this.highestRemote) {
      if (this.loggedStale !== config.version) {
        this.loggedStale = config.version;
        this.log.warn('remote config ignored: older than one already seen', { source, version: config.version, highest: this.highestRemote });
      }
      return false;
    }
    if (config.version === this.highestRemote) {
      // The persisted copy confirmed by Redis: same version, nothing to re-apply.
      if (this.remote?.source === 'state-dir' && source === 'redis' && this.current) {
        this.remote = { config: this.remote.config, source };
        this.current = { ...this.current, source };
        this.persistence?.save(this.remote.config, redisRunId);
        this.log.info('persisted config confirmed by redis', { version: config.version });
      }
      return false;
    }
    if (!this.putInForce(config, source)) return false;
    this.highestRemote = config.version;
    this.remote = { config, source };
    if (source === 'redis') this.persistence?.save(config, redisRunId);
    return true;
  }

  /** The key does not exist in Redis: fall back to the --policy file, else to unconfigured. */
  remoteAbsent(): void {
    if (!this.remote) return;
    this.remote = null;
    this.persistence?.remove();
    if (this.fileConfig) {
      this.log.info('remote config key absent; falling back to the policy file', { highest: this.highestRemote });
      this.putInForce(this.fileConfig, 'file');
      return;
    }
    this.log.warn('remote config key absent and no policy file; unconfigured', { highest: this.highestRemote });
    for (const t of this.targets) t.clear();
    this.current = null;
    this.versionGauge.set(0);
  }

  private validate(source: ConfigSourceKind, input: unknown): CompiledConfig | null {
    const r = parseConfig(input);
    if (r.ok) return r.value;
    this.reject(source, 'invalid', r.error);
    return null;
  }

  private putInForce(config: CompiledConfig, source: ConfigSourceKind): boolean {
    let applied = 0;
    try {
      for (const t of this.targets) {
        t.apply(config);
        applied++;
      }
    } catch (err) {
      // A config the schema accepts but a target cannot enforce: keep the old one everywhere,
      // so the targets never enforce different configs.
      this.rollBack(applied);
      this.reject(source, 'data-plane', `data plane refused it: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
    this.current = { config, source, appliedAt: new Date() };
    this.versionGauge.set(config.version);
    this.applied.inc({ source });
    this.log.info('config applied', { source, version: config.version, policy: config.policy, target: config.target });
    return true;
  }

  /** Puts the targets that took a refused config back on the config in force (or none). */
  private rollBack(count: number): void {
    const previous = this.current?.config;
    for (const t of this.targets.slice(0, count)) {
      try {
        if (previous) t.apply(previous);
        else t.clear();
      } catch (err) {
        // It enforced `previous` a moment ago; if it cannot any more, say so loudly.
        this.log.error('rolling a target back to the config in force failed', { version: previous?.version ?? null, err });
      }
    }
  }

  private inForce(): number | null {
    return this.current ? this.current.config.version : null;
  }
}
