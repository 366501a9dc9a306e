/**
 * The API-server double over HTTP: routes discovery, OpenAPI and resource requests, streams
 * watches, answers Tables to kubectl, and turns failures into Status objects.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { KubeApi, systemWrite, type WriteOptions } from './api.js';
import { apiGroup, apiGroupList, apiVersions, openApiV3Doc, openApiV3Index, resourceList, SERVER_VERSION } from './discovery.js';
import { ApiError, badRequest, gone } from './errors.js';
import { writeKubeconfig } from './kubeconfig.js';
import { apiVersionOf, Registry, storeKey, type ResourceType } from './registry.js';
import { decodeProtobuf, PROTOBUF } from './protobuf.js';
import { fieldSelector, labelSelector } from './selectors.js';
import { Store, type KObject, type WatchEvent } from './store.js';
import { toTable, type IncludeObject } from './table.js';

export interface KubeDoubleOptions {
  /** 0 (default): any free port. */
  port?: number;
  /** Every *.yaml CRD in this folder is created at start. */
  crdDir?: string;
  /** Watch history kept (events); a watch from an older resourceVersion gets 410 Gone. */
  historyLimit?: number;
  /** Deployment/StatefulSet status follows spec.replicas (default true). */
  controllers?: boolean;
  /** How often a watch that allows bookmarks gets one (default 10 s). */
  bookmarkSeconds?: number;
}

export interface KubeDouble {
  url: string;
  port: number;
  api: KubeApi;
  /** Drops the watch history: every resourceVersion seen so far is now too old (410). */
  compact(): void;
  /** Sets a Deployment's (or StatefulSet's) status.readyReplicas through its status subresource, as a kubelet report would. */
  setReadyReplicas(namespace: string, name: string, ready: number, kind?: 'Deployment' | 'StatefulSet'): KObject;
  writeKubeconfig(file: string, namespace?: string): void;
  close(): Promise<void>;
}

interface Route {
  type: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: 'status' | 'scale';
}

const JSON_TYPE = 'application/json';

function send(res: ServerResponse, code: number, body: unknown, warnings: string[] = []): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string | string[]> = { 'content-type': JSON_TYPE, 'content-length': String(Buffer.byteLength(text)) };
  if (warnings.length) headers.warning = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
  res.writeHead(code, headers).end(text);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const wantsTable = (req: IncomingMessage): boolean => /as=Table/.test(req.headers.accept ?? '');

function writeOptions(req: IncomingMessage, q: URLSearchParams): WriteOptions {
  const fv = q.get('fieldValidation');
  const agent = (req.headers['user-agent'] ?? 'unknown').split('/')[0];
  return {
    manager: q.get('fieldManager') ?? agent,
    dryRun: q.getAll('dryRun').includes('All'),
    fieldValidation: fv === 'Strict' || fv === 'Ignore' ? fv : 'Warn',
    warnings: [],
  };
}

export class KubeDoubleServer {
  readonly api: KubeApi;
  private readonly server: Server;
  private readonly watches = new Set<ServerResponse>();
  private readonly bookmarkMs: number;

  constructor(options: KubeDoubleOptions) {
    this.bookmarkMs = (options.bookmarkSeconds ?? 10) * 1000;
    this.api = new KubeApi(new Registry(), new Store(options.historyLimit ?? 1000), { controllers: options.controllers ?? true });
    if (options.crdDir) this.loadCrds(options.crdDir);
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => this.fail(res, err));
    });
    // Node closes an idle keep-alive connection after 5 s; a real API server keeps it far longer.
    // With Node's default, a client whose event loop was busy for more than 5 s (the operator
    // signing certificates with node-forge) reuses a pooled connection the double is closing at
    // that moment and gets ECONNRESET, which the real API server would not cause.
    this.server.keepAliveTimeout = 120_000;
  }

  private loadCrds(dir: string): void {
    const crdType = this.api.type('apiextensions.k8s.io', 'v1', 'customresourcedefinitions');
    for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
      for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
        const crd = doc.toJS() as KObject | null;
        if (crd?.kind === 'CustomResourceDefinition') this.api.create(crdType, undefined, crd, systemWrite());
      }
    }
  }

  listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        const addr = this.server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }

  close(): Promise<void> {
    for (const w of this.watches) w.end();
    this.watches.clear();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private fail(res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.end();
      return;
    }
    const e = err instanceof ApiError ? err : new ApiError(500, 'InternalError', `Internal error occurred: ${err instanceof Error ? err.message : String(err)}`);
    send(res, e.code, e.toStatus());
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://double');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const q = url.searchParams;
    const segs = path.split('/').filter(Boolean);
    const api = this.api;

    if (req.method === 'GET') {
      const doc = this.discovery(req, path, segs);
      if (doc !== undefined) return send(res, 200, doc);
    }
    const route = this.route(segs);
    if (!route) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const { type: t, namespace: ns, name, subresource: sub } = route;
    const opts = writeOptions(req, q);

    switch (req.method) {
      case 'GET':
        if (name === undefined) return q.get('watch') === '1' || q.get('watch') === 'true' ? this.watch(req, res, t, ns, q) : this.list(req, res, t, ns, q);
        {
          const obj = api.get(t, ns, name);
          if (sub === 'scale') return send(res, 200, api.toScale(t, obj));
          return send(res, 200, wantsTable(req) ? toTable(t, [obj], obj.metadata.resourceVersion!, includeObject(q)) : obj);
        }
      case 'POST':
        if (name !== undefined) throw new ApiError(405, 'MethodNotAllowed', 'POST is only allowed on collections');
        return send(res, 201, api.create(t, ns, parseBody(await readBody(req), req), opts), opts.warnings);
      case 'PUT':
        if (name === undefined) throw new ApiError(405, 'MethodNotAllowed', 'PUT needs a name');
        return send(res, 200, api.update(t, ns, name, parseBody(await readBody(req), req), sub, opts), opts.warnings);
      case 'PATCH': {
        if (name === undefined) throw new ApiError(405, 'MethodNotAllowed', 'PATCH needs a name');
        const r = api.patch(t, ns, name, req.headers['content-type'] ?? '', (await readBody(req)).toString('utf8'), q, sub, opts);
        return send(res, r.created ? 201 : 200, r.obj, opts.warnings);
      }
      case 'DELETE': {
        const raw = await readBody(req);
        const body = raw.length ? parseBody(raw, req) : undefined;
        if (name === undefined) {
          const match = selectors(q);
          const items = api.list(t, ns).filter(match).map((o) => api.delete(t, ns, o.metadata.name, body, opts) ?? o);
          return send(res, 200, { kind: `${t.kind}List`, apiVersion: items[0]?.apiVersion ?? t.version, metadata: {}, items });
        }
        const deleted = api.delete(t, ns, name, body, opts)!;
        if (!t.crd && !deleted.metadata.deletionTimestamp) {
          return send(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, group: t.group, kind: t.plural, uid: deleted.metadata.uid } });
        }
        return send(res, 200, deleted);
      }
      default:
        throw new ApiError(405, 'MethodNotAllowed', `method ${req.method} not allowed`);
    }
  }

  private discovery(req: IncomingMessage, path: string, segs: string[]): object | undefined {
    const r = this.api.registry;
    if (path === '/version') return SERVER_VERSION;
    if (path === '/healthz' || path === '/readyz' || path === '/livez') return { status: 'ok' };
    if (path === '/api') return apiVersions(req.headers.host ?? '127.0.0.1');
    if (path === '/apis') return apiGroupList(r);
    if (path === '/openapi/v3') return openApiV3Index(r);
    if (segs[0] === 'openapi' && segs[1] === 'v3') {
      const [group, version] = segs[2] === 'api' ? ['', segs[3]] : [segs[3], segs[4]];
      return openApiV3Doc(r, group, version) ?? notFoundDoc();
    }
    if (segs[0] === 'api' && segs.length === 2) return resourceList(r, '', segs[1]) ?? notFoundDoc();
    if (segs[0] === 'apis' && segs.length === 2) return apiGroup(r, segs[1]) ?? notFoundDoc();
    if (segs[0] === 'apis' && segs.length === 3) return resourceList(r, segs[1], segs[2]) ?? notFoundDoc();
    return undefined;
  }

  /** /api/v1/... or /apis/<group>/<version>/... → resource, namespace, name, subresource. */
  private route(segs: string[]): Route | undefined {
    let group: string;
    let version: string;
    let rest: string[];
    if (segs[0] === 'api' && segs.length >= 3) [group, version, rest] = ['', segs[1], segs.slice(2)];
    else if (segs[0] === 'apis' && segs.length >= 4) [group, version, rest] = [segs[1], segs[2], segs.slice(3)];
    else return undefined;
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3 && this.api.registry.lookup(group, version, rest[2])?.namespaced) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const type = this.api.registry.lookup(group, version, rest[0]);
    if (!type || rest.length > 3) return undefined;
    if (type.namespaced && namespace === undefined && rest.length > 1) return undefined;
    const sub = rest[2];
    if (sub !== undefined && !((sub === 'status' && type.status) || (sub === 'scale' && type.scale))) return undefined;
    return { type, namespace, name: rest[1], subresource: sub as Route['subresource'] };
  }

  private list(req: IncomingMessage, res: ServerResponse, t: ResourceType, ns: string | undefined, q: URLSearchParams): void {
    const rv = String(this.api.store.revision);
    const items = this.api.list(t, ns).filter(selectors(q));
    if (wantsTable(req)) return send(res, 200, toTable(t, items, rv, includeObject(q)));
    send(res, 200, { kind: `${t.kind}List`, apiVersion: items[0]?.apiVersion ?? (t.group ? `${t.group}/${t.version}` : t.version), metadata: { resourceVersion: rv }, items });
  }

  private watch(req: IncomingMessage, res: ServerResponse, t: ResourceType, ns: string | undefined, q: URLSearchParams): void {
    const store = this.api.store;
    const key = storeKey(t);
    const match = selectors(q);
    const table = wantsTable(req);
    const include = includeObject(q);
    let columnsSent = false;
    res.writeHead(200, { 'content-type': JSON_TYPE, 'transfer-encoding': 'chunked', 'cache-control': 'no-cache' });
    res.flushHeaders();

    const emit = (type: string, obj: KObject): void => {
      const object = table ? toTable(t, [obj], obj.metadata.resourceVersion!, include, !columnsSent) : obj;
      columnsSent = true;
      res.write(`${JSON.stringify({ type, object })}\n`);
    };
    /** The event as this watch sees it: an object entering or leaving the selection is ADDED or DELETED. */
    const seenAs = (e: WatchEvent): string | undefined => {
      if (e.key !== key || (ns !== undefined && e.object.metadata.namespace !== ns)) return undefined;
      const now = match(e.object);
      if (e.type !== 'MODIFIED') return now ? e.type : undefined;
      const before = e.previous !== undefined && match(e.previous);
      return now ? (before ? 'MODIFIED' : 'ADDED') : before ? 'DELETED' : undefined;
    };

    const from = q.get('resourceVersion');
    let last: number;
    if (!from || from === '0') {
      for (const o of this.api.list(t, ns).filter(match)) emit('ADDED', o);
      last = store.revision;
    } else {
      const since = Number(from);
      if (!Number.isFinite(since)) throw badRequest(`invalid resourceVersion ${from}`);
      const events = store.since(key, since);
      if (!events) {
        const status = gone(`too old resource version: ${from} (${store.revision})`).toStatus();
        res.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
        return;
      }
      for (const e of events) {
        const type = seenAs(e);
        if (type) emit(type, this.api.present(t, e.object));
      }
      last = Math.max(since, store.revision);
    }

    const unsubscribe = store.subscribe((e) => {
      const type = e.rv > last ? seenAs(e) : undefined;
      if (type) emit(type, this.api.present(t, structuredClone(e.object)));
    });
    const timeout = Number(q.get('timeoutSeconds') ?? '0');
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    timer?.unref();
    // Bookmarks keep a client's resourceVersion current while its objects are quiet.
    const bookmark = () => {
      last = Math.max(last, store.revision);
      res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind: t.kind, apiVersion: apiVersionOf(t), metadata: { resourceVersion: String(last) } } })}\n`);
    };
    const bookmarks = q.get('allowWatchBookmarks') === 'true' && !table ? setInterval(bookmark, this.bookmarkMs) : undefined;
    bookmarks?.unref();
    this.watches.add(res);
    const cleanup = (): void => {
      unsubscribe();
      if (timer) clearTimeout(timer);
      if (bookmarks) clearInterval(bookmarks);
      this.watches.delete(res);
    };
    res.on('close', cleanup);
  }
}

function notFoundDoc(): never {
  throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
}

function parseBody(raw: Buffer, req: IncomingMessage): unknown {
  if ((req.headers['content-type'] ?? '').startsWith(PROTOBUF)) return decodeProtobuf(raw);
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    // kubectl and client-node send JSON; YAML is accepted for hand-written requests.
    try {
      return parseAllDocuments(raw.toString('utf8'))[0]?.toJS();
    } catch (err) {
      throw badRequest(`error decoding body: ${(err as Error).message}`);
    }
  }
}

function selectors(q: URLSearchParams): (o: KObject) => boolean {
  const byLabel = labelSelector(q.get('labelSelector'));
  const byField = fieldSelector(q.get('fieldSelector'));
  return (o) => byLabel(o) && byField(o);
}

function includeObject(q: URLSearchParams): IncludeObject {
  const v = q.get('includeObject');
  return v === 'Object' || v === 'None' ? v : 'Metadata';
}

export async function startKubeDouble(options: KubeDoubleOptions = {}): Promise<KubeDouble> {
  const server = new KubeDoubleServer(options);
  const port = await server.listen(options.port ?? 0);
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    api: server.api,
    compact: () => server.api.store.compact(),
    setReadyReplicas: (namespace, name, ready, kind = 'Deployment') => {
      const t = server.api.type('apps', 'v1', kind === 'Deployment' ? 'deployments' : 'statefulsets');
      const body = JSON.stringify({ status: { readyReplicas: ready, availableReplicas: ready } });
      const opts = { ...systemWrite(), manager: 'kube-double' };
      return server.api.patch(t, namespace, name, 'application/merge-patch+json', body, new URLSearchParams(), 'status', opts).obj;
    },
    writeKubeconfig: (file, namespace) => writeKubeconfig(file, url, namespace),
    close: () => server.close(),
  };
}
