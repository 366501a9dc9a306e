/**
 * Load level 0..3 from pod utilisation, with hysteresis (the Kakao "load level"): it rises at
 * once when utilisation reaches a level's threshold, and falls only after utilisation has stayed
 * below the current level's threshold for holdSeconds, so shedding does not flap on the edge.
 * Pure: time is passed in.
 */
export interface LoadLevelSettings {
  /** Utilisation at which levels 1, 2, 3 begin; ascending. */
  thresholds: readonly number[];
  holdSeconds: number;
}

export class LoadLevel {
  level = 0;
  private thresholds: readonly number[];
  private holdMs: number;
  /** When utilisation first fell below the current level's threshold; null while it has not. */
  private belowSince: number | null = null;

  constructor(settings: LoadLevelSettings) {
    this.thresholds = settings.thresholds;
    this.holdMs = settings.holdSeconds * 1000;
  }

  /** New thresholds apply from the next sample; the current level is kept. */
  configure(settings: LoadLevelSettings): void {
    this.thresholds = settings.thresholds;
    this.holdMs = settings.holdSeconds * 1000;
  }

  /** The level the utilisation alone would give. */
  target(utilisation: number): number {
    let n = 0;
    while (n < this.thresholds.length && utilisation >= this.thresholds[n]) n++;
    return n;
  }

  /** Feeds one sample taken at nowMs; returns the level. */
  update(utilisation: number, nowMs: number): number {
    const target = this.target(utilisation);
    if (target >= this.level) {
      this.level = target;
      this.belowSince = null;
    } else if (this.belowSince === null) {
      this.belowSince = nowMs;
      if (this.holdMs === 0) this.stepDown(target);
    } else if (nowMs - this.belowSince >= this.holdMs) {
      this.stepDown(target);
    }
    return this.level;
  }

  reset(): void {
    this.level = 0;
    this.belowSince = null;
  }

  private stepDown(target: number): void {
    this.level = target;
    this.belowSince = null;
  }
}
