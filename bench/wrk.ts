/**
 * wrk (closed loop: each connection sends its next request when the last one is answered).
 * A generated Lua script sets the request and prints the summary as JSON in done(), so nothing
 * is parsed from wrk's human output.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { start, type StartOptions, type Proc } from './procs.js';

export interface WrkRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface WrkOptions extends WrkRequest {
  url: string;
  connections: number;
  durationSec: number;
  threads?: number;
  cpus?: string;
  /** Folder for the generated Lua script. */
  dir: string;
  name?: string;
}

export interface WrkResult {
  requests: number;
  durationSec: number;
  /** Responses with a status outside 2xx/3xx. */
  non2xx: number;
  socketErrors: number;
  rps: number;
  /** 2xx/3xx responses per second. */
  goodput: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

const MARK = 'WRKJSON ';

function luaString(s: string): string {
  return JSON.stringify(s); // a JSON string literal is a valid Lua string literal for ASCII input
}

function script(req: WrkRequest): string {
  const lines = [`wrk.method = ${luaString(req.method ?? 'GET')}`];
  if (req.path) lines.push(`wrk.path = ${luaString(req.path)}`);
  if (req.body !== undefined) lines.push(`wrk.body = ${luaString(req.body)}`);
  for (const [k, v] of Object.entries(req.headers ?? {})) lines.push(`wrk.headers[${luaString(k)}] = ${luaString(v)}`);
  lines.push(
    'done = function(summary, latency, requests)',
    '  local e = summary.errors',
    `  io.write(string.format('${MARK}{"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d}\\n',`,
    '    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,',
    '    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))',
    'end',
  );
  return lines.join('\n') + '\n';
}

/** Starts wrk; `result()` waits for it to finish. */
export async function startWrk(o: WrkOptions): Promise<{ proc: Proc; result: () => Promise<WrkResult> }> {
  const file = join(o.dir, `wrk-${o.name ?? 'load'}-${process.hrtime.bigint()}.lua`);
  writeFileSync(file, script(o));
  const args = [
    `-t${o.threads ?? 1}`,
    `-c${o.connections}`,
    `-d${o.durationSec}s`,
    '--timeout',
    '5s',
    '--latency',
    '-s',
    file,
    o.url,
  ];
  const sopts: StartOptions = { cpus: o.cpus, captureStdout: true };
  const proc = await start(o.name ?? 'wrk', 'wrk', args, sopts);
  const guard = setTimeout(() => void proc.stop(), (o.durationSec + 20) * 1000);
  const result = async (): Promise<WrkResult> => {
    const code = await proc.exited();
    clearTimeout(guard);
    const line = proc
      .stdout()
      .split('\n')
      .find((l) => l.startsWith(MARK));
    if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}): ${proc.stderr()}${proc.stdout()}`);
    return parse(line.slice(MARK.length));
  };
  return { proc, result };
}

export async function runWrk(o: WrkOptions): Promise<WrkResult> {
  return (await startWrk(o)).result();
}

function parse(json: string): WrkResult {
  const j = JSON.parse(json) as Record<string, number>;
  const durationSec = j.durationUs / 1e6;
  const socketErrors = j.connect + j.read + j.write + j.timeout;
  const good = j.requests - j.status;
  return {
    requests: j.requests,
    durationSec,
    non2xx: j.status,
    socketErrors,
    rps: j.requests / durationSec,
    goodput: good / durationSec,
    p50Ms: j.p50 / 1000,
    p90Ms: j.p90 / 1000,
    p99Ms: j.p99 / 1000,
    maxMs: j.max / 1000,
  };
}
