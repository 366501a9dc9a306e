/**
 * The deferral drainer's path: a deferred send sent again through dedup and failover (never
 * deferred again), holding a route permit like any send. delivered: a vendor took it (or it was
 * delivered before); failed: a vendor refused it as the caller's fault (will not succeed later);
 * retry: anything else (vendors failing, route full, Redis away).
 */
import { O_ERROR, O_SUCCESS, O_UPSTREAM_ERROR } from '../admission/outcomes.js';
import { Permit } from '../admission/permit.js';
import type { EgressContext } from './context.js';
import type { DeferredSend, ReplayOutcome } from './contracts.js';
import { CLAIM_MARGIN_MS, settleClaim } from './duplicates.js';
import { storedRequestHeaders } from './http-util.js';
import type { EgressRoute } from './route.js';
import { sendOnce } from './send.js';

/** A replay's hold on its route's slot; its work is the async flow in replay(). */
class ReplayPermit extends Permit<EgressRoute> {
  protected forward(): void {}
  // Routes have no queue and no list timeout: never called.
  protected refuseQueued(): void {}
  protected timedOut(): void {}
}

/** Replays are not shed by load level (the drainer runs only at level 0); a full route says retry. */
export async function replay(ctx: EgressContext, route: EgressRoute | undefined, send: DeferredSend): Promise<ReplayOutcome> {
  if (!route) return 'failed';
  if (!route.limiter.tryAcquire()) return 'retry';
  const permit = new ReplayPermit(route);
  permit.admitted();
  let result: ReplayOutcome = 'retry';
  try {
    result = await replayOnce(ctx, route, send);
    return result;
  } finally {
    permit.end(result === 'delivered' ? O_SUCCESS : result === 'failed' ? O_ERROR : O_UPSTREAM_ERROR);
  }
}

async function replayOnce(ctx: EgressContext, route: EgressRoute, send: DeferredSend): Promise<ReplayOutcome> {
  const budget = route.defaultBudgetMs;
  let claimed = false;
  if (send.key !== '' && route.compiled.dedup) {
    const c = await ctx.dedup.claim(route.name, send.key, budget + CLAIM_MARGIN_MS);
    if (c.kind === 'done') {
      ctx.metrics.dedupSuppressed.inc({ route: route.name });
      return 'delivered';
    }
    if (c.kind === 'pending') return 'retry';
    if (c.kind === 'unavailable') {
      if (route.compiled.dedup.onRedisDown === 'refuse') return 'retry';
      ctx.metrics.dedupBypassed.inc({ route: route.name });
    }
    claimed = c.kind === 'claimed';
  }
  const retryable = route.mayRetry(send.method, send.key !== '');
  const body = send.body.length > 0 ? send.body : null;
  const headers = storedRequestHeaders(send.headers, send.body.length);
  const r = await sendOnce(route, send.method, send.path, headers, body, retryable, ctx.now() + budget, ctx.now);
  r.res?.resume();
  if (claimed) settleClaim(ctx, route, send.key, r);
  return r.outcome === 'success' ? 'delivered' : r.outcome === 'caller' ? 'failed' : 'retry';
}
