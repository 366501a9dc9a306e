/** A permit holder for unit tests of the admission core: it records what the core asked of it. */
import { outcomeName, type OutcomeCode } from '../../sidecar/admission/outcomes.js';
import { Permit } from '../../sidecar/admission/permit.js';
import type { ClassRuntime } from '../../sidecar/class-runtime.js';

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
