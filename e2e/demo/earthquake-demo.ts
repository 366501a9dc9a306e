/**
 * `npm run demo`: the 2016 Gyeongju earthquake in about a minute, on one machine, no cluster,
 * no Redis. A chat app with a bounded worker pool takes steady traffic, then background logins
 * jump ×15; the same open-loop load is replayed twice: straight at the app, and through a
 * Spillway sidecar running examples/chat-policy.yaml. Prints goodput, latency and shedding per
 * class for both, and a verdict.
 *
 *   node dist/e2e/demo/earthquake-demo.js [--mode both|direct|sidecar]
 */
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { killAllChildrenNow, stopAllChildren } from '../apps/child-process.js';
import { repoRoot, spawnChatApp, startSidecar, type ChatAppProcess, type SidecarProcess } from '../apps/launch.js';
import { formatMs, formatReasons, formatTable, runLoad, type LoadPlan, type WindowSummary } from '../loadgen/index.js';

/** The app: 50 workers; a login holds one 200 ms (× up to 3 as its dependency saturates). */
const APP = { workers: 50, 'load-factor': 2, 'login-ms': 200, 'background-login-ms': 200, 'message-ms': 10, 'sync-ms': 5 };
/** Sessions connect and connections warm up before the baseline is measured (chat clients are already online when the quake hits). */
const WARMUP_S = 3;
const BASELINE_S = 6;
const STORM_S = 12;
const STORM_FACTOR = 15;
const RATES = { 'send-message': 40, sync: 10, login: 4, 'background-login': 10 };
const SESSIONS = 200;

/** Above this p99 event-loop delay in the load generator, the run is flagged as CPU-starved. */
const CLIENT_LAG_WARN_MS = 50;

type Mode = 'direct' | 'sidecar';
const MODE_LABEL: Record<Mode, string> = { direct: 'no protection', sidecar: 'Spillway' };

interface ModeResult {
  mode: Mode;
  baseline: WindowSummary;
  storm: WindowSummary;
  app: { maxBacklogSeen: number; abandoned: number };
  /** CPU seconds the sidecar process used over the run (from its /metrics); null without a sidecar. */
  sidecarCpuSeconds: number | null;
  /** p99 event-loop delay of this (load generating) process: high means the machine was too busy to trust the figures. */
  clientLagP99Ms: number;
}

function plan(target: string): LoadPlan {
  const json = { 'content-type': 'application/json' };
  return {
    target,
    classes: [
      { name: 'send-message', method: 'POST', path: '/messages', headers: json, body: '{"text":"are you ok?"}' },
      { name: 'sync', method: 'GET', path: '/sync' },
      { name: 'login', method: 'POST', path: '/login', headers: json, body: '{}' },
      {
        name: 'background-login',
        method: 'POST',
        path: '/login',
        headers: { ...json, 'x-login-kind': 'background' },
        body: '{}',
        maxInFlight: 600,
      },
    ],
    phases: [
      { name: 'warm-up', durationMs: WARMUP_S * 1000, rates: RATES },
      { name: 'baseline', durationMs: BASELINE_S * 1000, rates: RATES },
      {
        name: 'earthquake',
        durationMs: STORM_S * 1000,
        rates: { ...RATES, 'background-login': RATES['background-login'] * STORM_FACTOR },
      },
    ],
    sessions: { path: '/ws', count: SESSIONS, openPerSecond: SESSIONS / WARMUP_S, heartbeatTimeoutMs: 5000 },
  };
}

async function appStats(app: ChatAppProcess): Promise<ModeResult['app']> {
  const res = await fetch(`${app.url}/_admin/stats`);
  const s = (await res.json()) as { pool: { maxBacklogSeen: number }; abandoned: number };
  return { maxBacklogSeen: s.pool.maxBacklogSeen, abandoned: s.abandoned };
}

async function sidecarCpuSeconds(sidecar: SidecarProcess): Promise<number | null> {
  const text = await (await fetch(`${sidecar.adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('process_cpu_seconds_total '));
  return line ? Number(line.split(' ')[1]) : null;
}

async function runMode(mode: Mode, signal: AbortSignal): Promise<ModeResult> {
  const app = await spawnChatApp(APP);
  let sidecar: SidecarProcess | null = null;
  try {
    if (mode === 'sidecar') {
      sidecar = await startSidecar({ policyFile: join(repoRoot(), 'examples', 'chat-policy.yaml'), upstream: app.url });
    }
    const target = sidecar ? sidecar.url : app.url;
    process.stdout.write(`  ${MODE_LABEL[mode]}: load → ${sidecar ? `sidecar ${sidecar.url} → ` : ''}chat app ${app.url}\n`);
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    const report = await runLoad(plan(target), {
      signal,
      onPhase: (p) => process.stdout.write(`    ${p.name} (${p.durationMs / 1000} s)\n`),
    });
    lag.disable();
    return {
      mode,
      baseline: report.window(WARMUP_S, WARMUP_S + BASELINE_S),
      storm: report.window(WARMUP_S + BASELINE_S, WARMUP_S + BASELINE_S + STORM_S),
      app: await appStats(app),
      sidecarCpuSeconds: sidecar ? await sidecarCpuSeconds(sidecar) : null,
      clientLagP99Ms: lag.percentile(99) / 1e6,
    };
  } finally {
    await sidecar?.stop();
    await app.child.stop();
  }
}

const ratio = (a: number | null, b: number | null): number | null => (a !== null && b !== null && b > 0 ? a / b : null);
const fmtRatio = (r: number | null): string => (r === null ? '-' : `${r.toFixed(2)}×`);

function report(results: ModeResult[]): string {
  const rows: string[][] = [];
  for (const name of Object.keys(RATES)) {
    for (const r of results) {
      const b = r.baseline.classes[name];
      const s = r.storm.classes[name];
      rows.push([
        name,
        MODE_LABEL[r.mode],
        `${b.goodput.toFixed(1)} → ${s.goodput.toFixed(1)}`,
        fmtRatio(ratio(s.goodput, b.goodput)),
        `${formatMs(b.p50)} → ${formatMs(s.p50)}`,
        `${formatMs(b.p99)} → ${formatMs(s.p99)}`,
        formatReasons(s.shed),
        String(s.timeouts + s.droppedByClient),
        String(s.failed),
      ]);
    }
  }
  const table = formatTable(
    ['class', 'mode', 'goodput/s base → storm', 'ratio', 'p50 base → storm', 'p99 base → storm', 'shed in storm', 'timed out', 'failed'],
    rows,
  );
  const lines = results.map((r) => {
    const dropped = r.baseline.sessions.dropped + r.storm.sessions.dropped;
    return (
      `  ${MODE_LABEL[r.mode]}: ${r.storm.sessions.open}/${SESSIONS} WebSocket sessions open at the end, ${dropped} dropped; ` +
      `app backlog peaked at ${r.app.maxBacklogSeen}, ${r.app.abandoned} requests finished after their client gave up` +
      (r.sidecarCpuSeconds !== null ? `; sidecar used ${r.sidecarCpuSeconds.toFixed(1)} CPU-s` : '')
    );
  });
  const laggy = results.filter((r) => r.clientLagP99Ms > CLIENT_LAG_WARN_MS);
  const warning =
    laggy.length > 0
      ? `\n\nNote: this machine was busy (load average ${loadavg()[0].toFixed(1)} on ${cpus().length} cores): the load ` +
        `generator's own event loop lagged ${laggy.map((r) => `${r.clientLagP99Ms.toFixed(0)} ms (${MODE_LABEL[r.mode]})`).join(', ')} ` +
        `at p99, so latencies include that lag and every process here was short of CPU. Run again on a quieter machine for clean figures.`
      : '';
  return `${table}\n\n${lines.join('\n')}${warning}`;
}

function verdict(results: ModeResult[]): string {
  const msg = (r: ModeResult) => {
    const b = r.baseline.classes['send-message'];
    const s = r.storm.classes['send-message'];
    return { goodput: ratio(s.goodput, b.goodput), p99: ratio(s.p99, b.p99) };
  };
  const parts = results.map((r) => {
    const m = msg(r);
    return `${MODE_LABEL[r.mode]} ${fmtRatio(m.goodput)} goodput, ${fmtRatio(m.p99)} p99`;
  });
  return `Verdict: send-message during the earthquake vs before it: ${parts.join('; ')}.`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { mode: { type: 'string', default: 'both' } } });
  const modes: Mode[] =
    values.mode === 'both' ? ['direct', 'sidecar'] : values.mode === 'direct' || values.mode === 'sidecar' ? [values.mode] : [];
  if (modes.length === 0) throw new Error(`--mode must be both, direct or sidecar (got ${values.mode})`);

  const abort = new AbortController();
  process.once('SIGINT', () => {
    process.stdout.write('\ninterrupted: stopping children\n');
    abort.abort();
    void stopAllChildren().finally(() => process.exit(130));
  });
  process.once('exit', killAllChildrenNow);

  const rates = Object.entries(RATES)
    .map(([k, v]) => `${k} ${v}/s`)
    .join(', ');
  process.stdout.write(
    `Spillway demo: the 2016 earthquake against a chat app with ${APP.workers} workers ` +
      `(login ${APP['login-ms']} ms, message ${APP['message-ms']} ms; slower as workers fill up)\n` +
      `  warm-up ${WARMUP_S} s, then baseline ${BASELINE_S} s: ${rates}, ${SESSIONS} WebSocket sessions\n` +
      `  earthquake ${STORM_S} s: background-login ×${STORM_FACTOR} (${RATES['background-login'] * STORM_FACTOR}/s), the rest unchanged\n` +
      `  open-loop: every request is sent on schedule; client timeout 2 s\n\n`,
  );
  const results: ModeResult[] = [];
  for (const [i, mode] of modes.entries()) {
    process.stdout.write(`[${i + 1}/${modes.length}] ${MODE_LABEL[mode]}\n`);
    results.push(await runMode(mode, abort.signal));
    if (abort.signal.aborted) return;
  }
  process.stdout.write(`\n${report(results)}\n\n${verdict(results)}\n`);
}

main().catch(async (err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  await stopAllChildren();
  process.exit(1);
});
