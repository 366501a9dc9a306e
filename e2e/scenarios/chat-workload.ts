/**
 * The chat workload the inbound scenarios share: the request classes users send and the
 * TrafficPolicy that protects the app (the example chat policy, with budgets sized to this app's
 * 50 workers so that no one class can take them all).
 */
import type { TrafficPolicySpecInput } from '../../api/policy.js';
import type { RequestClass, SessionPlan } from '../loadgen/index.js';

const JSON_HEADERS = { 'content-type': 'application/json' };

/** 50 workers; a login holds one 200 ms, a message 10 ms, a sync 5 ms, × up to 3 as workers fill. */
export const CHAT_APP = { workers: 50, 'load-factor': 2, 'login-ms': 200, 'background-login-ms': 200, 'message-ms': 10, 'sync-ms': 5 };

/** The storm of the earthquake-like scenarios; the control-plane ones edit the class it falls into. */
export const BACKGROUND_LOGIN: RequestClass = { name: 'background-login', method: 'POST', path: '/login', headers: { ...JSON_HEADERS, 'x-login-kind': 'background' }, body: '{}', maxInFlight: 1500 };

export const CHAT_CLASSES: RequestClass[] = [
  { name: 'send-message', method: 'POST', path: '/messages', headers: JSON_HEADERS, body: '{"text":"are you ok?"}', maxInFlight: 1500 },
  { name: 'sync', method: 'GET', path: '/sync' },
  { name: 'login', method: 'POST', path: '/login', headers: JSON_HEADERS, body: '{}' },
  BACKGROUND_LOGIN,
];

export const CHAT_RATES = { 'send-message': 40, sync: 10, login: 4, 'background-login': 10 };

export function chatSessions(count: number, openSeconds: number): SessionPlan {
  return { path: '/ws', count, openPerSecond: count / openSeconds, heartbeatTimeoutMs: 5000 };
}

/** The chat policy; `messages` overrides the send-message budget and queue. */
export function chatPolicy(messages: { limit: number; queueSize: number; queueMs: number } = { limit: 200, queueSize: 200, queueMs: 250 }): TrafficPolicySpecInput {
  return {
    targetRef: { kind: 'Deployment', name: 'chat' },
    loadLevels: { thresholds: [0.7, 0.85, 0.95], holdSeconds: 5 },
    classes: [
      {
        name: 'background-login',
        match: [{ method: 'POST', path: '/login', headers: { 'x-login-kind': 'background' } }],
        priority: 10,
        concurrency: { limit: 20, scope: 'Cluster' },
        shedAtLevel: 1,
        timeoutMs: 2000,
      },
      {
        name: 'login',
        match: [{ method: 'POST', path: '/login' }],
        priority: 60,
        concurrency: { limit: 60, scope: 'Pod' },
        queue: { size: 50, timeoutMs: 500 },
        timeoutMs: 3000,
      },
      {
        name: 'send-message',
        match: [{ method: 'POST', pathPrefix: '/messages' }],
        priority: 90,
        concurrency: { limit: messages.limit, scope: 'Pod' },
        queue: { size: messages.queueSize, timeoutMs: messages.queueMs },
        timeoutMs: 5000,
      },
      {
        name: 'sync',
        match: [{ method: 'GET', pathPrefix: '/sync' }],
        priority: 70,
        concurrency: { limit: 100, scope: 'Pod' },
        queue: { size: 100, timeoutMs: 250 },
        shedAtLevel: 3,
      },
      {
        name: 'websocket',
        match: [{ websocket: true }],
        priority: 80,
        concurrency: { limit: 200, scope: 'Pod' },
        queue: { size: 100, timeoutMs: 500 },
      },
    ],
    defaultClass: { priority: 50, concurrency: { limit: 100, scope: 'Pod' } },
  };
}
