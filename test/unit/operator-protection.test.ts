import type { PodObject } from '../../operator/kube-api.js';
import { protectedCondition, protectionChanged, readyPods, selectorMatches } from '../../operator/protection.js';

const pod = (name: string, labels: Record<string, string>, ready = true, sidecar = false): PodObject => ({ metadata: { namespace: 'talk', name }, labels, ready, sidecar });

describe('selectorMatches', () => {
  test('matchLabels and matchExpressions are ANDed, as Kubernetes does', () => {
    const sel = { matchLabels: { app: 'chat' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['web', 'api'] }] };
    expect(selectorMatches(sel, { app: 'chat', tier: 'web' })).toBe(true);
    expect(selectorMatches(sel, { app: 'chat', tier: 'db' })).toBe(false);
    expect(selectorMatches(sel, { app: 'chat' })).toBe(false);
    expect(selectorMatches(sel, { app: 'other', tier: 'web' })).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'canary', operator: 'DoesNotExist' }] }, { app: 'x' })).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'canary', operator: 'Exists' }] }, { app: 'x' })).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] }, {})).toBe(true);
  });

  test('an empty, missing or unknown selector selects nothing', () => {
    expect(selectorMatches(undefined, { app: 'chat' })).toBe(false);
    expect(selectorMatches({}, { app: 'chat' })).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'app', operator: 'Like', values: ['chat'] }] }, { app: 'chat' })).toBe(false);
  });
});

describe('readyPods and the Protected condition', () => {
  const sel = { matchLabels: { app: 'chat' } };

  test('splits the selected, ready pods by the sidecar; the unprotected ones sorted', () => {
    const pods = [
      pod('chat-b', { app: 'chat' }),
      pod('chat-a', { app: 'chat' }),
      pod('chat-injected', { app: 'chat' }, true, true),
      pod('chat-starting', { app: 'chat' }, false),
      pod('other', { app: 'other' }),
    ];
    expect(readyPods(pods, sel)).toEqual({ protected: ['chat-injected'], unprotected: ['chat-a', 'chat-b'] });
  });

  test('True with none; False naming at most three pods and the rest as a count', () => {
    expect(protectedCondition([], 'Deployment chat')).toMatchObject({ status: 'True', reason: 'AllPodsProtected' });
    const c = protectedCondition(['a', 'b', 'c', 'd', 'e'], 'Deployment chat');
    expect(c).toMatchObject({ status: 'False', reason: 'UnprotectedPods' });
    expect(c.message).toMatch(/^5 ready pod\(s\) of Deployment chat run without the Spillway sidecar: a, b, c and 2 more/);
  });

  test('only readiness, the sidecar and labels matter for a re-check', () => {
    const a = pod('p', { app: 'chat' });
    expect(protectionChanged(a, { ...a, metadata: { ...a.metadata, resourceVersion: '9' } })).toBe(false);
    expect(protectionChanged(a, { ...a, ready: false })).toBe(true);
    expect(protectionChanged(a, { ...a, sidecar: true })).toBe(true);
    expect(protectionChanged(a, { ...a, labels: { app: 'chat', x: 'y' } })).toBe(true);
    expect(protectionChanged(undefined, a)).toBe(true);
    expect(protectionChanged(a, undefined)).toBe(true);
  });
});
