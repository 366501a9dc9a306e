#!/usr/bin/env node
// Loads every native addon (*.node) in node_modules into the running Node. .ci/run runs it on the
// image's Node release before the test suite runs there on the same node_modules: the addons
// installed today (@napi-rs/canvas, @parcel/watcher, unrs-resolver) use Node-API, which is
// ABI-stable across releases; an addon built against one Node's ABI would need `npm rebuild` per
// release, and fails here by name instead of somewhere inside a test.
// Addons for another libc (the musl twins of the glibc builds) cannot load on this machine and
// are skipped: their failure is a dynamic-linker error, not an ABI mismatch.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';

function* addons(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* addons(path);
    else if (entry.isFile() && entry.name.endsWith('.node')) yield path;
  }
}

const root = process.argv[2] ?? 'node_modules';
let loaded = 0;
const foreign = [];
const broken = [];
for (const file of addons(root)) {
  try {
    process.dlopen({ exports: {} }, join(process.cwd(), file));
    loaded++;
  } catch (err) {
    const message = String(err?.message ?? err);
    if (/NODE_MODULE_VERSION|was compiled against a different Node\.js version/.test(message)) broken.push(`${file}: ${message.split('\n')[0]}`);
    else if (/musl|GLIBC|cannot open shared object|wrong ELF class|invalid ELF header/.test(message)) foreign.push(file);
    else broken.push(`${file}: ${message.split('\n')[0]}`);
  }
}
if (broken.length > 0) {
  process.stderr.write(`check-addons: ${broken.length} native addon(s) do not load on Node ${process.version} (rebuild them for it: npm rebuild):\n`);
  for (const b of broken) process.stderr.write(`  ${b}\n`);
  process.exit(1);
}
process.stdout.write(`check-addons: Node ${process.version} loads ${loaded} native addon(s)${foreign.length ? `; ${foreign.length} for another platform skipped` : ''}\n`);
