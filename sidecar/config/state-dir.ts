/**
 * The last good remote config on local disk, so a sidecar restarted while Redis is down still
 * enforces it. Writes are atomic (temp file + rename: a crash never leaves half a file) and
 * serialised (the file always ends up holding the last config applied).
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CompiledConfig } from '../../api/config.js';
import type { Logger } from '../../lib/log.js';
import type { ConfigPersistence } from './store.js';

/** Default --state-dir: stable across restarts of the same container (unlike mkdtemp). */
export function defaultStateDir(): string {
  return join(tmpdir(), 'spillway');
}

/** `talk/chat` → `config-talk%2Fchat.json`: one file per config key, no path separators. */
export function stateFileName(configKey: string): string {
  return `config-${encodeURIComponent(configKey)}.json`;
}

export interface PersistedConfig {
  config: unknown;
  /** run_id of the Redis process that served it, if known. */
  redisRunId: string | null;
}

export class StateDir implements ConfigPersistence {
  readonly file: string;
  private chain: Promise<void> = Promise.resolve();
  private seq = 0;

  constructor(
    readonly dir: string,
    configKey: string,
    private readonly log: Logger,
  ) {
    this.file = join(dir, stateFileName(configKey));
  }

  /** The persisted config (unvalidated: the store validates it), or null if none or unreadable. */
  async load(): Promise<PersistedConfig | null> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn('cannot read persisted config; ignoring it', { file: this.file, err });
      return null;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      this.log.warn('persisted config is corrupted; ignoring it', { file: this.file, err });
      return null;
    }
    if (typeof doc !== 'object' || doc === null || !('config' in doc)) {
      this.log.warn('persisted config is corrupted; ignoring it', { file: this.file, reason: 'no "config" field' });
      return null;
    }
    const runId = (doc as { redisRunId?: unknown }).redisRunId;
    return { config: doc.config, redisRunId: typeof runId === 'string' ? runId : null };
  }

  save(config: CompiledConfig, redisRunId: string | undefined): void {
    const tmp = `${this.file}.${process.pid}.${++this.seq}.tmp`;
    this.enqueue('persist config', async () => {
      await mkdir(this.dir, { recursive: true });
      try {
        await writeFile(tmp, JSON.stringify({ redisRunId: redisRunId ?? null, config }) + '\n', { mode: 0o600, flush: true });
        await rename(tmp, this.file);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
      this.log.debug('config persisted', { file: this.file, version: config.version });
    });
  }

  remove(): void {
    this.enqueue('remove persisted config', () => rm(this.file, { force: true }));
  }

  /** Resolves when every write queued so far has finished (tests, shutdown). */
  flush(): Promise<void> {
    return this.chain;
  }

  private enqueue(what: string, op: () => Promise<void>): void {
    // A failed write is logged and does not stop later ones; the config in force is unaffected.
    this.chain = this.chain.then(op).catch((err: unknown) => this.log.warn(`cannot ${what}`, { file: this.file, err }));
  }
}
