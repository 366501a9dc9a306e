/**
 * --policy FILE: the real file system, the real watcher and stat poll, a fake data plane.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { FileSource } from '../../sidecar/config/file-source.js';
import { ConfigStore } from '../../sidecar/config/store.js';
import { captureLog } from '../support/log.js';
import { FakeDataPlane, limitOf, metricValue, policyYaml, waitFor } from './config-fakes.js';

describe('policy file source', () => {
  let dir: string;
  let file: string;
  let source: FileSource | null = null;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spillway-file-'));
    file = join(dir, 'policy.yaml');
  });

  afterEach(async () => {
    source?.close();
    source = null;
    await rm(dir, { recursive: true, force: true });
  });

  async function start(text: string, statIntervalMs = 200) {
    await writeFile(file, text);
    const plane = new FakeDataPlane();
    const registry = new Registry();
    const captured = captureLog();
    const store = new ConfigStore({ targets: [plane], registry, log: captured.log });
    source = new FileSource({ path: file, store, log: captured.log, statIntervalMs, debounceMs: 50 });
    await source.start();
    return { plane, registry, store, captured };
  }

  test('loads the file at start as local version 1', async () => {
    const { plane, store, registry } = await start(policyYaml(7));
    expect(plane.applied).toHaveLength(1);
    expect(limitOf(plane.current)).toBe(7);
    expect(store.effective()).toMatchObject({ source: 'file', config: { version: 1, policy: 'talk/chat', target: 'talk/chat' } });
    expect(await metricValue(registry, 'spillway_config_version')).toBe(1);
    expect(await metricValue(registry, 'spillway_config_applied_total', { source: 'file' })).toBe(1);
  });

  test('an edit in place is applied with the next local version', async () => {
    const { plane, store } = await start(policyYaml(7));
    await writeFile(file, policyYaml(8));
    await waitFor('limit 8 applied', () => limitOf(plane.current) === 8);
    expect(store.effective()?.config.version).toBe(2);
  });

  test('an editor-style replace (write a temp file, rename over) is applied', async () => {
    const { plane } = await start(policyYaml(7));
    const tmp = join(dir, '.policy.yaml.swp');
    await writeFile(tmp, policyYaml(9));
    await rename(tmp, file);
    await waitFor('limit 9 applied', () => limitOf(plane.current) === 9);
  });

  test('the stat poll alone picks up a change (no watch events)', async () => {
    const { plane, store } = await start(policyYaml(7), 100);
    // Stop the watcher the way a broken inotify would, leaving only the poll.
    (source as unknown as { watcher: { close(): void } | null }).watcher?.close();
    (source as unknown as { watcher: unknown }).watcher = null;
    await writeFile(file, policyYaml(11));
    await waitFor('limit 11 applied', () => limitOf(plane.current) === 11);
    expect(store.effective()?.config.version).toBe(2);
  });

  test('an invalid policy is kept out, named by field and counted; the last good stays', async () => {
    const { plane, store, registry, captured } = await start(policyYaml(7));
    await writeFile(file, policyYaml(0));
    await waitFor('rejection counted', async () => (await metricValue(registry, 'spillway_config_rejected_total', { source: 'file' })) === 1);
    const rejected = captured.find('config rejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ reason: 'invalid', error: expect.stringContaining('spec.classes[0].concurrency.limit') });
    expect(plane.applied).toHaveLength(1);
    expect(limitOf(plane.current)).toBe(7);
    expect(store.effective()?.config.version).toBe(1);

    // Broken YAML is refused the same way.
    await writeFile(file, 'spec: [unclosed\n');
    await waitFor('yaml rejection counted', async () => (await metricValue(registry, 'spillway_config_rejected_total', { source: 'file' })) === 2);
    expect(String(captured.find('config rejected')[1].error)).toMatch(/^yaml: /);

    // Fixing the file applies it with the next version.
    await writeFile(file, policyYaml(12));
    await waitFor('limit 12 applied', () => limitOf(plane.current) === 12);
    expect(store.effective()?.config.version).toBe(2);
  });

  test('a file that is invalid at start leaves the sidecar unconfigured until fixed', async () => {
    const { plane, store } = await start(policyYaml('lots'));
    expect(store.effective()).toBeNull();
    expect(plane.applied).toHaveLength(0);
    await writeFile(file, policyYaml(5));
    await waitFor('limit 5 applied', () => limitOf(plane.current) === 5);
    expect(store.effective()?.config.version).toBe(1);
  });

  test('a deleted file keeps the last good config in force', async () => {
    const { plane, captured } = await start(policyYaml(7), 100);
    await rm(file);
    await waitFor('missing file noticed', () => captured.find('cannot read the policy file').length > 0);
    expect(limitOf(plane.current)).toBe(7);
    expect(plane.clears).toBe(0);
  });

  test('an unreadable path fails start', async () => {
    const store = new ConfigStore({ targets: [new FakeDataPlane()], registry: new Registry(), log: captureLog().log });
    const s = new FileSource({ path: join(dir, 'missing.yaml'), store, log: captureLog().log });
    await expect(s.start()).rejects.toThrow(/ENOENT/);
    s.close();
  });
});
