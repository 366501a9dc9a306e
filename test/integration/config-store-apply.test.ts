/**
 * The store puts a config in force on every target or on none: when one target refuses it,
 * the targets that already took it are put back on the config in force (or cleared).
 */
import { Registry } from 'prom-client';
import type { CompiledConfig } from '../../api/config.js';
import { ConfigStore } from '../../sidecar/config/store.js';
import { captureLog } from '../support/log.js';
import { FakeDataPlane, metricValue, remoteConfig } from './config-fakes.js';

/** A target that refuses configs of one version (a config valid by schema it cannot enforce). */
class PickyTarget extends FakeDataPlane {
  constructor(private readonly refuse: number) {
    super();
  }
  override apply(config: CompiledConfig): void {
    if (config.version === this.refuse) throw new Error(`cannot enforce version ${this.refuse}`);
    super.apply(config);
  }
}

function setup(refuse: number) {
  const first = new FakeDataPlane();
  const picky = new PickyTarget(refuse);
  const last = new FakeDataPlane();
  const registry = new Registry();
  const captured = captureLog();
  const store = new ConfigStore({ targets: [first, picky, last], registry, log: captured.log });
  return { first, picky, last, registry, store, captured };
}

test('a config one target refuses is rolled back on the targets that took it', async () => {
  const { first, picky, last, registry, store, captured } = setup(3);
  expect(store.offerRemote(remoteConfig(2), 'redis')).toBe(true);
  expect(store.offerRemote(remoteConfig(3), 'redis')).toBe(false);

  for (const t of [first, picky, last]) expect(t.current?.version).toBe(2);
  expect(first.applied.map((c) => c.version)).toEqual([2, 3, 2]);
  expect(last.applied.map((c) => c.version)).toEqual([2]);
  expect(store.effective()?.config.version).toBe(2);
  expect(await metricValue(registry, 'spillway_config_version')).toBe(2);
  expect(await metricValue(registry, 'spillway_config_rejected_total', { source: 'redis' })).toBe(1);
  expect(captured.find('config rejected')[0]).toMatchObject({ reason: 'data-plane', error: expect.stringContaining('cannot enforce version 3') });

  // A later good version goes everywhere.
  expect(store.offerRemote(remoteConfig(4), 'redis')).toBe(true);
  for (const t of [first, picky, last]) expect(t.current?.version).toBe(4);
});

test('with no config in force, the targets that took a refused first config are cleared', async () => {
  const { first, picky, last, registry, store } = setup(1);
  expect(store.offerRemote(remoteConfig(1), 'redis')).toBe(false);
  expect(first.applied.map((c) => c.version)).toEqual([1]);
  expect(first.clears).toBe(1);
  for (const t of [first, picky, last]) expect(t.current).toBeNull();
  expect(store.effective()).toBeNull();
  expect(await metricValue(registry, 'spillway_config_version')).toBe(0);
});
