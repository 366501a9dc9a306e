/**
 * An informer, as client-go's: list, then watch from the list's resourceVersion, keeping a
 * local cache; on 410 Gone (the version expired) list again; when the stream breaks,
 * reconnect with capped exponential backoff. Handlers see every change exactly as the cache does.
 */
import { silentLogger, type Logger } from '../lib/log.js';
import { systemClock, type Clock } from './clock.js';
import { isStatus, objectKey, type ListWatch, type ObjectMeta, type WatchEvent, type WatchHandle } from './kube-api.js';

export interface InformerHandlers<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export interface InformerOptions {
  clock?: Clock;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  log?: Logger;
}

export class Informer<T extends { metadata: ObjectMeta }> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private readonly clock: Clock;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly log: Logger;
  private resourceVersion = '';
  private synced = false;
  private stopped = true;
  private failures = 0;
  private watch: WatchHandle | null = null;
  private timer: unknown = null;
  /** Bumped per watch so events of an abandoned stream are ignored. */
  private generation = 0;

  constructor(
    readonly name: string,
    private readonly source: ListWatch<T>,
    private readonly namespace: string | undefined,
    options: InformerOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.minBackoffMs = options.minBackoffMs ?? 200;
    this.maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.log = options.log ?? silentLogger;
  }

  addHandlers(h: InformerHandlers<T>): void {
    this.handlers.push(h);
  }

  hasSynced(): boolean {
    return this.synced;
  }

  get(namespace: string, name: string): T | undefined {
    return this.cache.get(`${namespace}/${name}`);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.relist();
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    this.watch?.stop();
    this.watch = null;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    try {
      const res = await this.source.list(this.namespace);
      if (this.stopped) return;
      this.replace(res.items);
      this.resourceVersion = res.resourceVersion;
      this.synced = true;
      this.failures = 0;
      await this.startWatch();
    } catch (err) {
      this.retry('list failed', err, () => this.relist());
    }
  }

  private async startWatch(): Promise<void> {
    if (this.stopped) return;
    const gen = ++this.generation;
    const current = () => gen === this.generation && !this.stopped;
    try {
      const handle = await this.source.watch(
        this.namespace,
        this.resourceVersion,
        (e) => {
          if (!current()) return;
          this.failures = 0;
          this.apply(e);
        },
        (err) => {
          if (!current()) return;
          this.watch = null;
          if (isStatus(err, 410)) {
            this.log.info('resourceVersion expired, listing again', { informer: this.name, resourceVersion: this.resourceVersion });
            void this.relist();
          } else if (err) {
            this.retry('watch failed', err, () => this.startWatch());
          } else {
            // A clean server-side close (its timeout): watch again from where we are, after a
            // short pause so a server that closes at once cannot spin us.
            this.timer = this.clock.setTimeout(() => {
              this.timer = null;
              void this.startWatch();
            }, Math.min(this.minBackoffMs, 50));
          }
        },
      );
      if (current()) this.watch = handle;
      else handle.stop();
    } catch (err) {
      if (!current()) return;
      if (isStatus(err, 410)) void this.relist();
      else this.retry('watch failed', err, () => this.startWatch());
    }
  }

  private retry(what: string, err: unknown, again: () => Promise<void>): void {
    if (this.stopped) return;
    const delay = Math.min(this.maxBackoffMs, this.minBackoffMs * 2 ** Math.min(this.failures, 20));
    this.failures++;
    this.log.warn(`${what}; retrying`, { informer: this.name, delayMs: delay, err });
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      void again();
    }, delay);
  }

  private apply(e: WatchEvent<T>): void {
    const rv = e.object.metadata.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (e.type === 'BOOKMARK') return;
    const key = objectKey(e.object.metadata);
    const old = this.cache.get(key);
    if (e.type === 'DELETED') {
      this.cache.delete(key);
      for (const h of this.handlers) h.onDelete?.(old ?? e.object);
      return;
    }
    this.cache.set(key, e.object);
    for (const h of this.handlers) {
      if (old) h.onUpdate?.(old, e.object);
      else h.onAdd?.(e.object);
    }
  }

  /** After a (re)list: the cache becomes the list, with handlers told of every difference. */
  private replace(items: T[]): void {
    const seen = new Set<string>();
    for (const obj of items) {
      const key = objectKey(obj.metadata);
      seen.add(key);
      const old = this.cache.get(key);
      this.cache.set(key, obj);
      for (const h of this.handlers) {
        if (!old) h.onAdd?.(obj);
        else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) h.onUpdate?.(old, obj);
      }
    }
    for (const [key, obj] of this.cache) {
      if (seen.has(key)) continue;
      this.cache.delete(key);
      for (const h of this.handlers) h.onDelete?.(obj);
    }
  }
}
