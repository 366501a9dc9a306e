/**
 * WebSocket memory: the sidecar's RSS before and after 10,000 idle sessions are opened through
 * it (client and upstream each in their own process). Sessions hold no request slot, so what
 * they cost is two sockets and whatever per-session state the sidecar keeps.
 */
import type { BenchConfig } from './config.js';
import { WS_POLICY } from './policies.js';
import { freePort, NODE, rssBytes, sleep, start, stopAll, type Proc } from './procs.js';
import { median, round, type BenchReport, type Row } from './report.js';
import { script, startSidecar, type SidecarProc } from './targets.js';
import { runWrk } from './wrk.js';

export const SESSIONS = 10_000;
const MB = 1024 * 1024;

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

async function measure(cfg: BenchConfig, run: number): Promise<Row> {
  const procs: Proc[] = [];
  try {
    const upstreamPort = await freePort();
    const listen = await freePort();
    procs.push(await start('ws-upstream', NODE, [script('ws-upstream'), String(upstreamPort)], { port: upstreamPort, cpus: cfg.loadCpus }));
    const sidecar = await startSidecar({ dir: cfg.dir, policyYaml: WS_POLICY, listen, upstreamPort, cpus: cfg.proxyCpus });
    procs.push(sidecar);
    // Warm up (JIT, buffers, metrics) with ordinary requests, then let the heap settle.
    await runWrk({ url: `http://127.0.0.1:${listen}/`, connections: 10, durationSec: 2, dir: cfg.dir, cpus: cfg.loadCpus, name: 'warmup' });
    await sleep(2000);
    const before = rssBytes(sidecar.pid);
    const t0 = Date.now();
    const clients = await start('ws-clients', NODE, [script('ws-clients'), `ws://127.0.0.1:${listen}/ws`, String(SESSIONS), '200'], {
      captureStdout: true,
      cpus: cfg.loadCpus,
    });
    procs.push(clients);
    const opened = JSON.parse(await waitForLine(clients, 180_000)) as { open: number; failed: number };
    const openSec = (Date.now() - t0) / 1000;
    await sleep(3000);
    const after = rssBytes(sidecar.pid);
    const gauge = await sessionsGauge(sidecar);
    return {
      run,
      sessionsOpen: opened.open,
      failed: opened.failed,
      sessionsGauge: gauge,
      openSec: round(openSec, 1),
      rssBeforeMB: round(before / MB, 1),
      rssAfterMB: round(after / MB, 1),
      addedMB: round((after - before) / MB, 1),
      perSessionKB: opened.open > 0 ? round((after - before) / 1024 / opened.open, 2) : null,
    };
  } catch (e) {
    return { run, error: (e as Error).message.split('\n')[0] };
  } finally {
    await stopAll(procs.reverse());
  }
}

export async function wsMemory(cfg: BenchConfig): Promise<BenchReport> {
  const rows: Row[] = [];
  for (let run = 1; run <= cfg.runs; run++) rows.push(await measure(cfg, run));
  const added = median(rows.filter((r) => typeof r.addedMB === 'number').map((r) => r.addedMB as number));
  const allOpen = rows.every((r) => r.sessionsOpen === SESSIONS);
  return {
    name: 'ws-memory',
    description:
      `RSS (VmRSS) of the sidecar process after a warm-up, then 3 s after ${SESSIONS} idle WebSocket sessions ` +
      'were opened through it (ws client and ws upstream in their own processes, 200 handshakes at a time).',
    rows,
    summary: [
      {
        addedMB: round(added, 1),
        target: '< 50 MB',
        verdict: Number.isFinite(added) && allOpen ? (added < 50 ? 'met' : 'MISSED') : 'not measured',
      },
    ],
    notes: [],
  };
}
