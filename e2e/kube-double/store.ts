/**
 * The in-memory object store: one global resourceVersion counter (as etcd's revision), a
 * bounded history of changes for watches (older resourceVersions get 410 Gone), and the live
 * watchers to notify.
 */
export type KObject = {
  apiVersion: string;
  kind: string;
  metadata: KMetadata;
  [field: string]: unknown;
};

export type KMetadata = {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  managedFields?: unknown[];
  [field: string]: unknown;
};

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchEvent {
  type: EventType;
  key: string;
  rv: number;
  object: KObject;
  /** The object before a MODIFIED event (watches with selectors turn it into ADDED/DELETED). */
  previous?: KObject;
}

export type Listener = (event: WatchEvent) => void;

const clone = <T>(v: T): T => structuredClone(v);

export class Store {
  private rv = 0;
  private readonly objects = new Map<string, Map<string, KObject>>();
  private readonly history: WatchEvent[] = [];
  /** Events up to and including this revision have been dropped from the history. */
  private compactedRv = 0;
  private readonly listeners = new Set<Listener>();

  constructor(private readonly historyLimit = 1000) {}

  get revision(): number {
    return this.rv;
  }

  private bucket(key: string): Map<string, KObject> {
    let b = this.objects.get(key);
    if (!b) this.objects.set(key, (b = new Map()));
    return b;
  }

  get(key: string, namespace: string | undefined, name: string): KObject | undefined {
    const o = this.objects.get(key)?.get(`${namespace ?? ''}/${name}`);
    return o && clone(o);
  }

  list(key: string, namespace?: string): KObject[] {
    const out: KObject[] = [];
    for (const o of this.objects.get(key)?.values() ?? []) if (namespace === undefined || o.metadata.namespace === namespace) out.push(clone(o));
    return out.sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  }

  /** Stores `obj` with a new resourceVersion and tells the watchers. Returns the stored copy. */
  put(key: string, obj: KObject, type: 'ADDED' | 'MODIFIED'): KObject {
    const stored = clone(obj);
    stored.metadata.resourceVersion = String(++this.rv);
    const id = `${stored.metadata.namespace ?? ''}/${stored.metadata.name}`;
    const previous = this.bucket(key).get(id);
    this.bucket(key).set(id, stored);
    this.record({ type, key, rv: this.rv, object: stored, previous });
    return clone(stored);
  }

  remove(key: string, obj: KObject): KObject {
    const gone = clone(obj);
    gone.metadata.resourceVersion = String(++this.rv);
    this.objects.get(key)?.delete(`${gone.metadata.namespace ?? ''}/${gone.metadata.name}`);
    this.record({ type: 'DELETED', key, rv: this.rv, object: gone });
    return clone(gone);
  }

  private record(event: WatchEvent): void {
    this.history.push(event);
    while (this.history.length > this.historyLimit) this.compactedRv = this.history.shift()!.rv;
    for (const l of this.listeners) l(event);
  }

  /** Forgets all history, as an etcd compaction does: every older resourceVersion is now too old. */
  compact(): void {
    this.history.length = 0;
    this.compactedRv = this.rv;
  }

  /** Events of `key` after revision `since`, or undefined when the history no longer reaches back that far. */
  since(key: string, since: number): WatchEvent[] | undefined {
    if (since < this.compactedRv) return undefined;
    return this.history.filter((e) => e.key === key && e.rv > since).map((e) => ({ ...e, object: clone(e.object), previous: e.previous && clone(e.previous) }));
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
