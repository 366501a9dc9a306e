/**
 * `--policy FILE`: a TrafficPolicy YAML, compiled for one pod and hot-reloaded when it changes.
 *
 * Editors and Kubernetes ConfigMap mounts replace files by rename, which a watch on the file
 * itself misses, so we watch the directory and also poll the file's stat as a fallback;
 * events are debounced and a reload whose text is unchanged is skipped.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { compile } from '../../api/compile.js';
import type { CompiledConfig } from '../../api/config.js';
import { parsePolicy } from '../../api/validate.js';
import type { Logger } from '../../lib/log.js';
import type { ConfigStore } from './store.js';

export interface FileSourceOptions {
  path: string;
  store: ConfigStore;
  log: Logger;
  /** Stat poll, the fallback when watch events are missed. */
  statIntervalMs?: number;
  /** Quiet time after the last change event before reloading (a save is often several events). */
  debounceMs?: number;
}

export type PolicyResult = { ok: true; config: Omit<CompiledConfig, 'version'> } | { ok: false; error: string };

/** YAML text → compiled config body (a standalone sidecar is its workload's only replica it knows of). */
export function compilePolicyYaml(text: string): PolicyResult {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    return { ok: false, error: `yaml: ${err instanceof Error ? err.message : String(err)}` };
  }
  const policy = parsePolicy(doc);
  if (!policy.ok) return policy;
  return { ok: true, config: compile(policy.value, 1) };
}

export class FileSource {
  private readonly path: string;
  private readonly name: string;
  private readonly store: ConfigStore;
  private readonly log: Logger;
  private readonly statIntervalMs: number;
  private readonly debounceMs: number;

  private watcher: FSWatcher | null = null;
  private poll: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private lastStat = '';
  private lastText: string | null = null;
  private version = 0;
  private reloading: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(options: FileSourceOptions) {
    this.path = options.path;
    this.name = basename(options.path);
    this.store = options.store;
    this.log = options.log;
    this.statIntervalMs = options.statIntervalMs ?? 1000;
    this.debounceMs = options.debounceMs ?? 100;
  }

  /** Loads the file once (throws if it cannot be read: a wrong path is a usage error), then watches it. */
  async start(): Promise<void> {
    const text = await readFile(this.path, 'utf8');
    this.lastStat = await this.statKey();
    this.load(text);
    try {
      this.watcher = watch(dirname(this.path), { persistent: false }, (_event, file) => {
        if (file === null || file === this.name) this.schedule();
      });
      this.watcher.on('error', (err) => {
        this.log.warn('policy directory watch failed; relying on the stat poll', { file: this.path, err });
        this.watcher?.close();
        this.watcher = null;
      });
    } catch (err) {
      this.log.warn('cannot watch the policy directory; relying on the stat poll', { file: this.path, err });
    }
    this.poll = setInterval(() => void this.checkStat(), this.statIntervalMs);
    this.poll.unref();
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    this.watcher = null;
    if (this.poll) clearInterval(this.poll);
    if (this.debounce) clearTimeout(this.debounce);
    this.poll = this.debounce = null;
  }

  /** Resolves after any reload already triggered has finished (tests). */
  settled(): Promise<void> {
    return this.reloading;
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = null;
      this.reloading = this.reloading
        .then(() => this.reload())
        .catch((err: unknown) => this.log.error('policy reload failed; the config in force is unchanged', { file: this.path, err }));
    }, this.debounceMs);
  }

  private async checkStat(): Promise<void> {
    const key = await this.statKey();
    if (key !== this.lastStat) this.schedule();
  }

  /** Identity of the file's current content as far as stat can tell; '' while it is missing. */
  private async statKey(): Promise<string> {
    try {
      const s = await stat(this.path);
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      return '';
    }
  }

  private async reload(): Promise<void> {
    if (this.closed) return;
    this.lastStat = await this.statKey();
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      // Mid-rename or deleted: keep the last good config; the next event or poll retries.
      this.log.warn('cannot read the policy file; the config in force is unchanged', { file: this.path, err });
      return;
    }
    this.load(text);
  }

  private load(text: string): void {
    if (text === this.lastText) return;
    this.lastText = text;
    const r = compilePolicyYaml(text);
    if (!r.ok) {
      this.store.reject('file', 'invalid', r.error);
      return;
    }
    if (this.store.offerFile({ ...r.config, version: this.version + 1 })) this.version++;
  }
}
