/** The finished scenarios, by name (the order `all` runs them in). */
import { borrowing } from './borrowing.js';
import { earthquake } from './earthquake.js';
import { kafkaOutage } from './kafka-outage.js';
import { newYear } from './new-year.js';
import { newYearAdaptive } from './new-year-adaptive.js';
import { noisyNeighbour } from './noisy-neighbour.js';
import { operatorRestart } from './operator-restart.js';
import { redisOutage } from './redis-outage.js';
import { scaleOut } from './scale-out.js';
import { shadow } from './shadow.js';
import { worldCup } from './world-cup.js';
import type { Scenario } from './types.js';
import { vendorBrownout, vendorHang } from './vendor.js';

export const SCENARIOS: Record<string, Scenario> = {
  earthquake,
  'new-year': newYear,
  'world-cup': worldCup,
  'vendor-brownout': vendorBrownout,
  'vendor-hang': vendorHang,
  'redis-outage': redisOutage,
  'kafka-outage': kafkaOutage,
  'scale-out': scaleOut,
  'operator-restart': operatorRestart,
  borrowing,
  'new-year-adaptive': newYearAdaptive,
  'noisy-neighbour': noisyNeighbour,
  shadow,
};
