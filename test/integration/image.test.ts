/**
 * The container image without a Docker engine: runs the Dockerfile's own build and install
 * steps (docker/image.sh, on the files its COPY lines name) into a temporary folder, then starts
 * both entrypoints from the result, so a broken image build fails here.
 *
 * Stand-in: the build stage's `npm ci` (dev dependencies) is replaced by a symlink to this
 * checkout's node_modules (same lockfile). The production `npm ci --omit=dev` really runs.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../support/helm.js';
import { freePort } from '../support/ports.js';

const execFileAsync = promisify(execFile);

/** execFile that puts the command's output in the error (tsc reports on stdout). */
async function run(file: string, args: string[], options: Parameters<typeof execFileAsync>[2]): Promise<{ stdout: string; stderr: string }> {
  try {
    const r = await execFileAsync(file, args, { ...options, encoding: 'utf8' });
    return { stdout: String(r.stdout), stderr: String(r.stderr) };
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

interface Stage {
  from: string;
  platform: string | undefined;
  name: string | undefined;
  lines: string[];
}

/** The Dockerfile's stages with their instructions (continuation lines joined, comments dropped). */
function parseDockerfile(text: string): Stage[] {
  const logical = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .filter((l) => l !== '' && !l.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of logical) {
    const from = /^FROM\s+(?:--platform=(\S+)\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(line);
    if (from) stages.push({ from: from[2], platform: from[1], name: from[3], lines: [] });
    else stages.at(-1)?.lines.push(line);
  }
  return stages;
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const stages = parseDockerfile(dockerfile);
const [buildStage, runtimeStage] = stages;

describe('Dockerfile', () => {
  it('runs on a pinned Node LTS release (the one .ci/run also tests, through tools/lts-node.sh)', () => {
    const version = /^node:(\d+)\.\d+\.\d+-bookworm-slim$/.exec(buildStage.from);
    expect(version).not.toBeNull();
    // Even majors are the LTS lines; Node 20 reached end of life on 2026-04-30.
    const major = Number(version![1]);
    expect(major % 2).toBe(0);
    expect(major).toBeGreaterThan(20);
  });

  it('has a build stage and a non-root runtime stage on the same slim Node image', () => {
    expect(stages).toHaveLength(2);
    expect(buildStage.name).toBe('build');
    expect(runtimeStage.from).toBe(buildStage.from);
    // A multi-arch build compiles once, natively; only the runtime stage is per target platform.
    expect(buildStage.platform).toBe('$BUILDPLATFORM');
    expect(runtimeStage.platform).toBeUndefined();
    expect(runtimeStage.lines).toContain('COPY --from=build /app /app');
    expect(runtimeStage.lines).toContain('USER 65532:65532');
    expect(runtimeStage.lines).toContain('ENTRYPOINT ["spillway"]');
    expect(runtimeStage.lines).toContain('CMD ["--help"]');
    expect(runtimeStage.lines.join('\n')).toMatch(/SPILLWAY_STATE_DIR=\/var\/lib\/spillway/);
    expect(runtimeStage.lines).toContain('VOLUME ["/var/lib/spillway"]');
    // No build tooling or network at run time: the runtime stage only copies and links.
    expect(runtimeStage.lines.filter((l) => /^RUN\b/.test(l)).join('\n')).not.toMatch(/npm|npx/);
  });

  it('.dockerignore keeps every path the build copies', () => {
    const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim().replace(/\/$/, ''))
      .filter((l) => l !== '' && !l.startsWith('#'));
    const copied = buildStage.lines.flatMap((l) => (/^COPY (?!--)/.test(l) ? l.split(' ').slice(1, -1) : [])).map((p) => p.replace(/\/$/, ''));
    expect(copied.length).toBeGreaterThan(5);
    for (const path of copied) expect({ path, ignored: ignored.includes(path) }).toEqual({ path, ignored: false });
  });

  it('builds and installs through docker/image.sh', () => {
    expect(buildStage.lines).toContain('RUN npm ci --ignore-scripts --no-audit --no-fund');
    expect(buildStage.lines).toContain('RUN sh docker/image.sh build /src && sh docker/image.sh install /src /app && npm cache clean --force');
  });
});

describe('the image contents, installed the way the Dockerfile installs them', () => {
  let work: string;
  let app: string;
  let stateDir: string;
  let filesBefore: string[];
  let upstream: Server;
  let sidecar: ChildProcess | undefined;
  let sidecarLog = '';
  const env = (): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: work,
    NODE_ENV: 'production',
    SPILLWAY_STATE_DIR: stateDir,
  });

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'spillway-image-'));
    const src = join(work, 'src');
    app = join(work, 'app');
    stateDir = join(work, 'state');
    mkdirSync(src);
    mkdirSync(stateDir);
    // The build stage's context COPY lines: exactly these files reach the build.
    for (const line of buildStage.lines) {
      const copy = /^COPY\s+(?!--)(.+)$/.exec(line);
      if (!copy) continue;
      const args = copy[1].split(/\s+/);
      for (const path of args.slice(0, -1)) cpSync(join(REPO_ROOT, path), join(src, path), { recursive: true });
    }
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(src, 'node_modules'), 'dir');
    await run('sh', ['docker/image.sh', 'build', src], { cwd: src, maxBuffer: 16 << 20 });
    await run('sh', [join(src, 'docker/image.sh'), 'install', src, app], { cwd: src, env: { ...process.env, npm_config_update_notifier: 'false' }, maxBuffer: 16 << 20 });
    filesBefore = listFiles(app).filter((f) => !f.startsWith('node_modules/'));
    upstream = createServer((req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end(`upstream saw ${req.method} ${req.url}`);
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
  }, 240_000);

  afterAll(async () => {
    if (sidecar && sidecar.exitCode === null && sidecar.signalCode === null) {
      const exited = once(sidecar, 'exit');
      process.kill(sidecar.pid!, 'SIGKILL');
      await exited;
    }
    if (upstream) await new Promise((r) => upstream.close(r));
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('holds the runtime only: no dev dependencies, no sources, no tests', () => {
    const modules = readdirSync(join(app, 'node_modules'));
    for (const dev of ['typescript', 'jest', 'ts-jest', 'eslint', 'aws-cdk-lib', '@aws-cdk', '@marcbachmann']) expect(modules).not.toContain(dev);
    for (const dep of ['ioredis', 'kafkajs', 'prom-client', 'yaml', 'zod', 'express']) expect(modules).toContain(dep);
    expect(existsSync(join(app, 'node_modules', '@kubernetes', 'client-node'))).toBe(true);
    const top = readdirSync(app).sort();
    expect(top).toEqual(['bin', 'crds', 'dist', 'examples', 'node_modules', 'package-lock.json', 'package.json']);
    expect(readdirSync(join(app, 'dist')).sort()).toEqual(['api', 'cli.js', 'lib', 'operator', 'sidecar']);
    expect(filesBefore.some((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toBe(false);
  });

  it('has no native code: the /app built on one platform serves every platform of a multi-arch image', () => {
    // Node addons (.node) and node-gyp builds; the bare-* packages' prebuilds are for the Bare
    // runtime (.bare files) and never loaded by Node.
    const native = listFiles(join(app, 'node_modules')).filter((f) => /\.node$|(^|\/)binding\.gyp$/.test(f));
    expect(native).toEqual([]);
  });

  it('spillway --help, found on PATH through the links the runtime stage makes (ENTRYPOINT ["spillway"]; kubectl-spillway for kubectl)', async () => {
    const line = runtimeStage.lines.find((l) => l.startsWith('RUN ln -s')) ?? '';
    const links = [...line.matchAll(/ln -s (\S+) (\S+)/g)].map((m) => [m[1], m[2]]);
    expect(links).toEqual([
      ['/app/bin/spillway.js', '/usr/local/bin/spillway'],
      ['/app/bin/kubectl-spillway', '/usr/local/bin/kubectl-spillway'],
    ]);
    const binDir = join(work, 'usr-local-bin');
    mkdirSync(binDir, { recursive: true });
    symlinkSync(join(app, 'bin', 'spillway.js'), join(binDir, 'spillway'));
    symlinkSync(join(app, 'bin', 'kubectl-spillway'), join(binDir, 'kubectl-spillway'));
    const path = { ...env(), PATH: `${binDir}:${process.env.PATH}` };
    const { stdout } = await run('spillway', ['--help'], { cwd: app, env: path });
    expect(stdout).toMatch(/^Usage: spillway <command>/);
    expect(stdout).toMatch(/sidecar/);
    expect(stdout).toMatch(/operator/);
    const plugin = await run('kubectl-spillway', ['validate', join(app, 'examples', 'chat-policy.yaml')], { cwd: app, env: path });
    expect(plugin.stdout).toMatch(/TrafficPolicy talk\/chat: valid$/m);
  });

  it('spillway operator --help', async () => {
    const { stdout } = await run(join(app, 'bin', 'spillway.js'), ['operator', '--help'], { cwd: app, env: env() });
    expect(stdout).toMatch(/^Usage: spillway operator/);
    expect(stdout).toMatch(/--leader-elect/);
  });

  it('spillway sidecar --help shows the state dir from the environment', async () => {
    const { stdout } = await run(join(app, 'bin', 'spillway.js'), ['sidecar', '--help'], { cwd: app, env: env() });
    expect(stdout).toMatch(/^Usage: spillway sidecar/);
    expect(stdout).toContain('SPILLWAY_STATE_DIR');
  });

  it('spillway sidecar with the example policy serves a request to a real upstream', async () => {
    const [listen, egress, admin] = [await freePort(), await freePort(), await freePort()];
    const upstreamPort = (upstream.address() as { port: number }).port;
    sidecar = spawn(
      join(app, 'bin', 'spillway.js'),
      ['sidecar', '--policy', 'examples/chat-policy.yaml', '--upstream', `http://127.0.0.1:${upstreamPort}`, '--listen', String(listen), '--egress', String(egress), '--admin', String(admin), '--host', '127.0.0.1'],
      { cwd: app, env: env(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    sidecar.stdout!.on('data', (c: Buffer) => (sidecarLog += c.toString()));
    sidecar.stderr!.on('data', (c: Buffer) => (sidecarLog += c.toString()));
    try {
      await waitFor('sidecar /readyz', async () => (await get(admin, '/readyz')).status === 200, 30_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}; sidecar output:\n${sidecarLog}`);
    }
    const res = await get(listen, '/sync/inbox');
    expect(res).toEqual({ status: 200, body: 'upstream saw GET /sync/inbox' });
    const config = JSON.parse((await get(admin, '/config')).body) as { source: string; policy: string };
    expect(config.source).toBe('file');
    expect(config.policy).toBe('talk/chat');
    const metrics = await get(admin, '/metrics');
    expect(metrics.body).toMatch(/spillway_requests_total\{class="sync",outcome="success"\} 1/);
    // Read-only root FS: running wrote nothing into the installed tree.
    expect(listFiles(app).filter((f) => !f.startsWith('node_modules/'))).toEqual(filesBefore);
    expect(relative(app, stateDir).startsWith('..')).toBe(true);
  }, 60_000);
});
