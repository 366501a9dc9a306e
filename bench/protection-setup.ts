/**
 * The earthquake rig shared by the closed- and open-loop protection benchmarks: the slow
 * upstream (100 slots × 20 ms), optionally a proxy in front, the /messages load and the
 * background-login storm requests.
 */
import type { BenchConfig } from './config.js';
import { startHaproxyBudgets } from './peers.js';
import { protectionPolicy } from './policies.js';
import { freePort, stopAll, type Proc } from './procs.js';
import { BASELINE_ROOT, sidecarPolicy, startBareProxy, startSidecar, startSlowUpstream } from './targets.js';
import { runWrk, type WrkResult } from './wrk.js';

export type Setup = 'none' | 'bare-proxy' | 'haproxy' | 'sidecar' | 'sidecar-b' | 'sidecar-failfast' | 'sidecar-baseline';

export const LIMITS = { backgroundLogin: 20, messages: 80, queueMs: 100 };
export const MESSAGE_CONNECTIONS = 40;

export const MESSAGE_REQUEST = {
  method: 'POST',
  path: '/messages',
  headers: { 'content-type': 'application/json' },
  body: '{"room":"r1","text":"hello"}',
};

export const STORM_REQUEST = {
  method: 'POST',
  path: '/login',
  headers: { 'content-type': 'application/json', 'x-login-kind': 'background' },
  body: '{"user":"u1","token":"t"}',
};

export interface Rig {
  setup: Setup;
  /** Where clients connect. */
  port: number;
  /** The proxy process (null without one). */
  proxy: Proc | null;
  upstream: Proc;
  stop(): Promise<void>;
}

export async function startRig(setup: Setup, cfg: BenchConfig): Promise<Rig> {
  const upstreamPort = await freePort();
  const upstream = await startSlowUpstream(upstreamPort, cfg.loadCpus);
  const listen = await freePort();
  let proxy: Proc | null = null;
  try {
    switch (setup) {
      case 'none':
        break;
      case 'bare-proxy':
        proxy = await startBareProxy(listen, upstreamPort, cfg.proxyCpus);
        break;
      case 'haproxy':
        proxy = await startHaproxyBudgets(cfg.dir, listen, upstreamPort, LIMITS, cfg.proxyCpus);
        break;
      case 'sidecar':
        proxy = await startSidecar({ dir: cfg.dir, policyYaml: sidecarPolicy(protectionPolicy()), listen, upstreamPort, cpus: cfg.proxyCpus });
        break;
      case 'sidecar-b':
        proxy = await startSidecar({ dir: cfg.dir, policyYaml: sidecarPolicy(protectionPolicy(), 'b'), listen, upstreamPort, cpus: cfg.proxyCpus });
        break;
      case 'sidecar-baseline':
        proxy = await startSidecar({ dir: cfg.dir, policyYaml: sidecarPolicy(protectionPolicy()), listen, upstreamPort, cpus: cfg.proxyCpus, root: BASELINE_ROOT });
        break;
      case 'sidecar-failfast':
        proxy = await startSidecar({ dir: cfg.dir, policyYaml: protectionPolicy(0), listen, upstreamPort, cpus: cfg.proxyCpus });
        break;
    }
  } catch (e) {
    await upstream.stop();
    throw e;
  }
  const procs = proxy ? [proxy, upstream] : [upstream];
  return { setup, port: proxy ? listen : upstreamPort, proxy, upstream, stop: () => stopAll(procs) };
}

/** The /messages load: 40 connections, closed loop. */
export function messages(rig: Rig, cfg: BenchConfig, durationSec: number, name = 'messages'): Promise<WrkResult> {
  return runWrk({
    ...MESSAGE_REQUEST,
    url: `http://127.0.0.1:${rig.port}/`,
    connections: MESSAGE_CONNECTIONS,
    durationSec,
    dir: cfg.dir,
    cpus: cfg.loadCpus,
    name,
  });
}
