#!/usr/bin/env node
// Run after every `npm install` (npm run lock:platforms). Adds lock entries for other platforms' optional native bindings that this registry mirror
// cannot serve, so `npm ci` accepts the lock; on this platform they are skipped, never fetched.
import { readFileSync, writeFileSync } from 'node:fs';
import process from 'node:process';
const file = process.argv[2];
const lock = JSON.parse(readFileSync(file, 'utf8'));
const pk = lock.packages;
const platform = (name) => {
  const m = name.match(/-(android|darwin|freebsd|linux|win32|openharmony|wasm32|sunos|aix)-?([a-z0-9]+)?/);
  if (!m) return {};
  const os = m[1] === 'wasm32' ? undefined : m[1];
  const cpuRaw = m[2] ?? '';
  const cpu = { arm: 'arm', arm64: 'arm64', x64: 'x64', ia32: 'ia32', riscv64: 'riscv64', ppc64: 'ppc64', s390x: 's390x', loong64: 'loong64' }[cpuRaw];
  return { ...(os ? { os: [os] } : { cpu: ['wasm32'] }), ...(cpu ? { cpu: [cpu] } : {}) };
};
let added = 0;
for (const [path, meta] of Object.entries(pk)) {
  for (const [dep, range] of Object.entries(meta.optionalDependencies ?? {})) {
    const key = `node_modules/${dep}`;
    if (pk[key] || pk[`${path}/node_modules/${dep}`]) continue;
    pk[key] = { version: range.replace(/^[\^~=]/, ''), dev: meta.dev, optional: true, ...platform(dep) };
    if (!meta.dev) delete pk[key].dev;
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(pk).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)));
writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
process.stdout.write(`lock-platforms: added ${added} entries\n`);
