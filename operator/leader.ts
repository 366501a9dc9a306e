/**
 * Lease-based leader election (coordination.k8s.io/v1), as client-go does it: the leader
 * renews every retry period; it stops leading when it could not renew for the renew deadline;
 * a candidate takes a lease whose record has not changed for a lease duration (measured on its
 * own clock, so clock skew between nodes does not matter) or whose holder is empty (released).
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { silentLogger, type Logger } from '../lib/log.js';
import { systemClock, type Clock } from './clock.js';
import type { KubeApi, LeaseRecord } from './kube-api.js';

export type LeaseStore = Pick<KubeApi, 'getLease' | 'createLease' | 'replaceLease'>;

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  clock?: Clock;
  onStartedLeading(): void;
  onStoppedLeading(): void;
  log?: Logger;
}

/** Pod name (or host name) plus a random suffix, so two processes on one host differ. */
export function defaultIdentity(): string {
  return `${process.env.POD_NAME || hostname()}_${randomBytes(4).toString('hex')}`;
}

export class LeaderElector {
  private readonly clock: Clock;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private leading = false;
  private lastRenew = 0;
  private observed: LeaseRecord | null = null;
  private observedAt = 0;
  private timer: unknown = null;
  private running = false;
  private ticking: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: LeaseStore,
    private readonly opts: LeaderElectionOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (!(this.leaseDurationMs > this.renewDeadlineMs && this.renewDeadlineMs > this.retryPeriodMs)) {
      throw new Error('leader election needs lease duration > renew deadline > retry period');
    }
  }

  get identity(): string {
    return this.opts.identity;
  }

  /** True only while a renewal succeeded within the renew deadline: checked before every write. */
  isLeader(): boolean {
    return this.leading && this.clock.now() - this.lastRenew < this.renewDeadlineMs;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Runs one election round now (tests drive rounds with an injected clock). */
  tick(): Promise<void> {
    this.ticking = this.ticking.then(() => this.round());
    return this.ticking;
  }

  /** Stops electing; a leader hands the lease back (empty holder) so a standby takes over at its next retry. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    await this.ticking;
    if (!this.leading) return;
    this.leading = false;
    this.opts.onStoppedLeading();
    const rec = this.observed;
    if (!rec || rec.holderIdentity !== this.opts.identity) return;
    try {
      await this.store.replaceLease(this.opts.namespace, this.opts.name, {
        ...rec,
        holderIdentity: '',
        leaseDurationSeconds: 1,
        renewTime: this.clock.now(),
      });
    } catch (err) {
      this.log.warn('releasing the lease failed', { lease: `${this.opts.namespace}/${this.opts.name}`, err });
    }
  }

  private schedule(ms: number): void {
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      void this.tick().then(() => {
        if (this.running) this.schedule(this.retryPeriodMs);
      });
    }, ms);
  }

  private async round(): Promise<void> {
    const ok = await this.tryAcquireOrRenew();
    const now = this.clock.now();
    if (ok) {
      this.lastRenew = now;
      if (!this.leading) {
        this.leading = true;
        this.log.info('became the leader', { identity: this.opts.identity, lease: `${this.opts.namespace}/${this.opts.name}` });
        this.opts.onStartedLeading();
      }
    } else if (this.leading && now - this.lastRenew >= this.renewDeadlineMs) {
      this.leading = false;
      this.log.warn('lost the lease: not renewed within the renew deadline', { renewDeadlineMs: this.renewDeadlineMs, lease: `${this.opts.namespace}/${this.opts.name}` });
      this.opts.onStoppedLeading();
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.opts;
    const now = this.clock.now();
    const durationSeconds = Math.max(1, Math.ceil(this.leaseDurationMs / 1000));
    try {
      const rec = await this.store.getLease(namespace, name);
      if (!rec) {
        this.observe(
          await this.store.createLease(namespace, name, {
            holderIdentity: identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: now,
            renewTime: now,
            leaseTransitions: 0,
          }),
        );
        return true;
      }
      this.observe(rec);
      const heldByOther = rec.holderIdentity !== '' && rec.holderIdentity !== identity;
      if (heldByOther && this.observedAt + rec.leaseDurationSeconds * 1000 > now) return false;
      const mine = rec.holderIdentity === identity;
      this.observe(
        await this.store.replaceLease(namespace, name, {
          ...rec,
          holderIdentity: identity,
          leaseDurationSeconds: durationSeconds,
          renewTime: now,
          acquireTime: mine ? rec.acquireTime : now,
          leaseTransitions: mine ? rec.leaseTransitions : rec.leaseTransitions + 1,
        }),
      );
      return true;
    } catch (err) {
      this.log.warn('cannot read or write the lease', { lease: `${namespace}/${name}`, err });
      return false;
    }
  }

  /** Remembers when the record last changed, on our own clock. */
  private observe(rec: LeaseRecord): void {
    const prev = this.observed;
    if (!prev || prev.holderIdentity !== rec.holderIdentity || prev.renewTime !== rec.renewTime || prev.resourceVersion !== rec.resourceVersion) {
      this.observedAt = this.clock.now();
    }
    this.observed = rec;
  }

  private get log(): Logger {
    return this.opts.log ?? silentLogger;
  }
}

