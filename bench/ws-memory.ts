/**
 * WebSocket memory: a proxy's RSS before and after ~10,000 idle sessions are opened through it
 * (client and upstream each in their own process), for the sidecar and, as the floor a Node
 * proxy can reach, the bare proxy. Sessions hold no request slot, so what they cost is two
 * sockets and whatever per-session state the proxy keeps.
 *
 * 9,900 rather than 10,000: a proxied session takes two file descriptors in the proxy and the
 * hard RLIMIT_NOFILE here is 20,000 (raising it needs CAP_SYS_RESOURCE, which this container
 * lacks); the added memory is scaled to 10,000 sessions (addedMBPer10k).
 */
import type { BenchConfig } from './config.js';
import { WS_POLICY } from './policies.js';
import { freePort, NODE, rssBytes, sleep, start, stopAll, type Proc } from './procs.js';
import { gcAndMeasure } from './inspector.js';
import { median, round, type BenchReport, type Row } from './report.js';
import { script, startBareProxy, startSidecar, type SidecarProc } from './targets.js';
import { runWrk } from './wrk.js';

export const SESSIONS = 9_900;
const MB = 1024 * 1024;

type Target = 'sidecar' | 'bare-proxy';
const TARGETS: Target[] = ['sidecar', 'bare-proxy'];

async function sessionsGauge(sidecar: SidecarProc): Promise<number | null> {
  try {
    const r = await fetch(`http://127.0.0.1:${sidecar.admin}/state`);
    const s = (await r.json()) as { sessions?: number };
    return typeof s.sessions === 'number' ? s.sessions : null;
  } catch {
    return null;
  }
}

async function waitForLine(p: Proc, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (!p.stdout().includes('\n')) {
    if (p.child.exitCode !== null) throw new Error(`${p.name} exited ${p.child.exitCode}: ${p.stderr().slice(-500)}`);
    if (Date.now() > deadline) throw new Error(`${p.name}: no result within ${timeoutMs} ms`);
    await sleep(200);
  }
  return p.stdout().split('\n')[0];
}

async function measure(target: Target, cfg: BenchConfig, run: number): Promise<Row> {
  const procs: Proc[] = [];
  try {
    const upstreamPort = await freePort();
    const listen = await freePort();
    const inspect = await freePort();
    const nodeArgs = [`--inspect=127.0.0.1:${inspect}`];
    procs.push(await start('ws-upstream', NODE, [script('ws-upstream'), String(upstreamPort)], { port: upstreamPort, cpus: cfg.loadCpus }));
    const sidecar =
      target === 'sidecar'
        ? await startSidecar({ dir: cfg.dir, policyYaml: WS_POLICY, listen, upstreamPort, cpus: cfg.proxyCpus, nodeArgs })
        : null;
    const proxy = sidecar ?? (await startBareProxy(listen, upstreamPort, cfg.proxyCpus, nodeArgs));
    procs.push(proxy);
    // Warm up (JIT, buffers, metrics) with ordinary requests, then collect the garbage.
    await runWrk({ url: `http://127.0.0.1:${listen}/`, connections: 10, durationSec: 2, dir: cfg.dir, cpus: cfg.loadCpus, name: 'warmup' });
    await sleep(1000);
    const before = await gcAndMeasure(inspect);
    const t0 = Date.now();
    const clients = await start('ws-clients', NODE, [script('ws-clients'), `ws://127.0.0.1:${listen}/ws`, String(SESSIONS), '200'], {
      captureStdout: true,
      cpus: cfg.loadCpus,
    });
    procs.push(clients);
    const opened = JSON.parse(await waitForLine(clients, 180_000)) as { open: number; failed: number };
    const openSec = (Date.now() - t0) / 1000;
    await sleep(3000);
    // What the previous version of this benchmark reported: RSS with the handshakes' garbage still in it.
    const afterNoGc = rssBytes(proxy.pid);
    const after = await gcAndMeasure(inspect);
    const gauge = sidecar ? await sessionsGauge(sidecar) : null;
    const per10k = (bytes: number): number | null => (opened.open > 0 ? round((bytes / MB) * (10_000 / opened.open), 1) : null);
    return {
      target,
      run,
      sessionsOpen: opened.open,
      failed: opened.failed,
      sessionsGauge: gauge,
      openSec: round(openSec, 1),
      rssBeforeMB: round(before.rss / MB, 1),
      rssAfterMB: round(after.rss / MB, 1),
      addedMBPer10k: per10k(after.rss - before.rss),
      perSessionKB: opened.open > 0 ? round((after.rss - before.rss) / 1024 / opened.open, 2) : null,
      heapAddedMBPer10k: per10k(after.heapUsed - before.heapUsed),
      externalAddedMBPer10k: per10k(after.external - before.external),
      noGcAddedMBPer10k: per10k(afterNoGc - before.rss),
    };
  } catch (e) {
    return { target, run, error: (e as Error).message.split('\n')[0] };
  } finally {
    await stopAll(procs.reverse());
  }
}

export async function wsMemory(cfg: BenchConfig): Promise<BenchReport> {
  const rows: Row[] = [];
  // The bare proxy is the reference floor: measured once to keep `all` near ten minutes.
  for (let run = 1; run <= cfg.runs; run++) {
    for (const t of TARGETS) if (t === 'sidecar' || run === 1) rows.push(await measure(t, cfg, run));
  }
  const med = (t: Target): number =>
    median(rows.filter((r) => r.target === t && typeof r.addedMBPer10k === 'number').map((r) => r.addedMBPer10k as number));
  const added = med('sidecar');
  const allOpen = rows.every((r) => r.target !== 'sidecar' || r.sessionsOpen === SESSIONS);
  return {
    name: 'ws-memory',
    description:
      `RSS of the proxy process after a warm-up, then 3 s after ${SESSIONS} idle WebSocket sessions ` +
      'were opened through it (ws client and ws upstream in their own processes, 200 handshakes at a time); both readings ' +
      'right after a forced full GC (inspector HeapProfiler.collectGarbage, twice). noGcAddedMBPer10k: the same without the GC ' +
      '(what this benchmark reported before: it counts the handshakes\' garbage).',
    rows,
    summary: [
      {
        sidecarAddedMBPer10k: round(added, 1),
        bareProxyAddedMBPer10k: round(med('bare-proxy'), 1),
        target: '< 50 MB',
        verdict: Number.isFinite(added) && allOpen ? (added < 50 ? 'met' : 'MISSED') : 'not measured',
      },
    ],
    notes: [`${SESSIONS} sessions, not 10,000: two fds per session in the proxy and a hard fd limit of 20,000 here; added memory is scaled to 10,000.`],
  };
}
