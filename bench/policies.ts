/** The TrafficPolicies the benchmarks run the sidecar with (YAML, as a user would write them). */

const HEAD = `apiVersion: spillway.io/v1alpha1
kind: TrafficPolicy
metadata: { name: bench, namespace: bench }
spec:
  targetRef: { kind: Deployment, name: bench }
`;

/**
 * examples/chat-policy.yaml with limits so large that nothing is shed: the benchmark's GET /
 * walks every class's matchers and lands in the default class (the worst case for the classifier).
 * The chat classes' header matchers sit behind a method or path that GET / fails first, so a
 * method-less "crawler" class makes every request pay a header lookup too (issue 9: CPU per request
 * with header-matching classes).
 */
export const OVERHEAD_POLICY = `${HEAD}  classes:
    - name: background-login
      match: [{ method: POST, path: /login, headers: { x-login-kind: background } }]
      priority: 10
      concurrency: { limit: 100000, scope: Pod }
      shedAtLevel: 3
      timeoutMs: 2000
    - name: login
      match: [{ method: POST, path: /login }]
      priority: 60
      concurrency: { limit: 100000, scope: Pod }
      queue: { size: 50, timeoutMs: 500 }
      timeoutMs: 3000
    - name: send-message
      match: [{ method: POST, pathPrefix: /messages }]
      priority: 90
      concurrency: { limit: 100000, scope: Pod }
      queue: { size: 200, timeoutMs: 250 }
      timeoutMs: 5000
    - name: sync
      match: [{ method: GET, pathPrefix: /sync }]
      priority: 70
      concurrency: { limit: 100000, scope: Pod }
      shedAtLevel: 3
    - name: long-poll
      match: [{ method: GET, pathPrefix: /socket.io/, query: { transport: polling } }]
      priority: 80
      concurrency: { limit: 100000, scope: Pod }
      timeoutMs: 35000
      affectsLoadLevel: false
    - name: websocket
      match: [{ websocket: true }]
      priority: 80
      concurrency: { limit: 100000, scope: Pod }
    - name: crawler
      match: [{ headers: { x-client-kind: crawler } }]
      priority: 20
      concurrency: { limit: 100000, scope: Pod }
  defaultClass:
    priority: 50
    concurrency: { limit: 100000, scope: Pod }
`;

/**
 * Rejection cost: /hold and /shed share a class with one slot and no queue. One trickling
 * /hold request keeps the slot, so every /shed is refused (reason capacity); GET / is proxied
 * through the default class for comparison in the same process.
 */
export const REJECT_POLICY = `${HEAD}  classes:
    - name: limited
      match: [{ pathPrefix: /hold }, { pathPrefix: /shed }]
      priority: 10
      concurrency: { limit: 1, scope: Pod }
      queue: { size: 0 }
  defaultClass:
    priority: 50
    concurrency: { limit: 100000, scope: Pod }
`;

/**
 * Protection: the HAProxy peer's budgets (20 background logins, 80 messages) and its 100 ms
 * queue timeout; the queue is large because HAProxy's is bounded by time only.
 */
export function protectionPolicy(queueSize = 100000): string {
  const queue = queueSize > 0 ? `{ size: ${queueSize}, timeoutMs: 100 }` : '{ size: 0 }';
  return `${HEAD}  classes:
    - name: background-login
      match: [{ method: POST, path: /login, headers: { x-login-kind: background } }]
      priority: 10
      concurrency: { limit: 20, scope: Pod }
      queue: ${queue}
    - name: send-message
      match: [{ method: POST, pathPrefix: /messages }]
      priority: 90
      concurrency: { limit: 80, scope: Pod }
      queue: ${queue}
  defaultClass:
    priority: 50
    concurrency: { limit: 100, scope: Pod }
`;
}

/** WebSocket sessions: the upgrade is admitted by its class, the session then holds no slot. */
export const WS_POLICY = `${HEAD}  classes:
    - name: websocket
      match: [{ websocket: true }]
      priority: 80
      concurrency: { limit: 1000, scope: Pod }
      queue: { size: 20000, timeoutMs: 5000 }
  defaultClass:
    priority: 50
    concurrency: { limit: 1000, scope: Pod }
`;

/**
 * Egress overhead: one route with one vendor (the same nginx the inbound proxies to), no
 * budget, no dedup, no deferral: the egress hop's own cost against the inbound proxy's.
 */
export function egressPolicy(vendorUrl: string): string {
  return `${HEAD}  classes: []
  defaultClass:
    priority: 50
    concurrency: { limit: 100000, scope: Pod }
  routes:
    - name: bench
      vendors:
        - { name: v, url: "${vendorUrl}", timeoutMs: 5000 }
`;
}
