// Summarises V8 .cpuprofile files (node --cpu-prof): self time by function over the busy samples, top N.
// Usage: node tools/profile-top.mjs <dir> [N]   (see docs/benchmarks.md, "Where the time goes")
/* global process, console */
import { readFileSync, readdirSync } from 'node:fs';
import { join, basename } from 'node:path';
const dir = process.argv[2]; const top = Number(process.argv[3] ?? 25);
for (const f of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
  const p = JSON.parse(readFileSync(join(dir, f), 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const dt = new Map(); // id -> self microseconds
  for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const agg = new Map(); let total = 0;
  for (const [id, us] of dt) {
    const n = byId.get(id); const cf = n.callFrame;
    const key = `${cf.functionName || '(anon)'} ${cf.url ? basename(cf.url) + ':' + (cf.lineNumber + 1) : ''}`;
    agg.set(key, (agg.get(key) ?? 0) + us); total += us;
  }
  const idle = [...agg].filter(([k]) => k.startsWith('(idle)')).reduce((s, [, v]) => s + v, 0);
  console.log(`== ${f}: ${(total / 1e6).toFixed(2)} s sampled, ${(100 * idle / total).toFixed(1)} % idle`);
  const busy = total - idle;
  for (const [k, v] of [...agg].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${(100 * v / busy).toFixed(1).padStart(5)} %  ${k}`);
}
