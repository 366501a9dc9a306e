/** A permit holder for unit tests of the admission core: it records what the core asked of it. */
import { outcomeName, type OutcomeCode } from '../../sidecar/admission/outcomes.js';
import { Permit } from '../../sidecar/admission/permit.js';
import type { ClassRuntime, ClassSettings } from '../../sidecar/class-runtime.js';

/** A plain class (no queue, no shedding, no timeout) that unit tests extend with what they try. */
export const BASE_CLASS: ClassSettings = {
  name: 'c',
  priority: 50,
  queue: { size: 0, timeoutMs: 1000 },
  shedAtLevel: null,
  timeoutMs: null,
  rejectStatus: 503,
  affectsLoadLevel: true,
};

export class Holder extends Permit<ClassRuntime> {
  readonly log: string[] = [];
  protected forward(): void {
    this.log.push('forward');
  }
  protected refuseQueued(reason: string): void {
    this.log.push(reason);
  }
  protected timedOut(): void {
    this.log.push('timed-out');
  }
  protected override ended(outcome: OutcomeCode): void {
    this.log.push(`ended ${outcomeName(outcome)}`);
  }
}
