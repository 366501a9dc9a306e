import { MemoryDedupStore, dedupKey } from '../../sidecar/egress/dedup.js';

describe('MemoryDedupStore (standalone dedup)', () => {
  it('claims once, answers pending then the stored status, releases, and expires', async () => {
    let now = 0;
    const s = new MemoryDedupStore(() => now);
    expect(await s.claim('push', 'k', 1000)).toEqual({ kind: 'claimed' });
    expect(await s.claim('push', 'k', 1000)).toEqual({ kind: 'pending' });
    expect(await s.claim('sms', 'k', 1000)).toEqual({ kind: 'claimed' }); // keys are per route
    s.complete('push', 'k', 202, 60);
    expect(await s.claim('push', 'k', 1000)).toEqual({ kind: 'done', status: 202 });
    now = 61_000;
    expect(await s.claim('push', 'k', 1000)).toEqual({ kind: 'claimed' });
    s.release('push', 'k');
    expect(await s.claim('push', 'k', 1000)).toEqual({ kind: 'claimed' });
    // A pending claim that was never answered lapses after its own expiry.
    now += 1001;
    expect(await s.claim('push', 'k', 1000)).toEqual({ kind: 'claimed' });
  });

  it('peeks without claiming (a shed send checked before it is deferred)', async () => {
    let now = 0;
    const s = new MemoryDedupStore(() => now);
    expect(await s.peek('push', 'k')).toEqual({ kind: 'claimed' });
    expect(await s.claim('push', 'k', 1000)).toEqual({ kind: 'claimed' }); // peeking took nothing
    expect(await s.peek('push', 'k')).toEqual({ kind: 'pending' });
    s.complete('push', 'k', 200, 60);
    expect(await s.peek('push', 'k')).toEqual({ kind: 'done', status: 200 });
    now = 61_000;
    expect(await s.peek('push', 'k')).toEqual({ kind: 'claimed' });
  });

  it('stays bounded, forgetting the oldest keys first', async () => {
    const s = new MemoryDedupStore(() => 0, 3);
    for (const k of ['a', 'b', 'c', 'd']) await s.claim('r', k, 1000);
    expect(await s.claim('r', 'd', 1000)).toEqual({ kind: 'pending' });
    expect(await s.claim('r', 'a', 1000)).toEqual({ kind: 'claimed' });
  });

  it('uses the documented Redis key layout', () => {
    expect(dedupKey('talk/relay', 'push', 'abc')).toBe('spillway:dedup:talk/relay:push:abc');
  });
});
