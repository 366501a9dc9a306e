/**
 * The release workflow (.github/workflows/release.yml), short of running it on GitHub: every
 * workflow passes the real action-validator (and a broken copy does not, so the check is live);
 * triggers, least-privilege permissions, pinned actions, the multi-arch image and the chart's OCI
 * push; tools/release-version.sh against this checkout; `helm package` of the chart.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { helm, REPO_ROOT } from '../support/helm.js';

const WORKFLOWS = join(REPO_ROOT, '.github', 'workflows');
const RELEASE = join(WORKFLOWS, 'release.yml');
const VALIDATOR = join(REPO_ROOT, 'node_modules', '.bin', 'action-validator');
const workflow = parse(readFileSync(RELEASE, 'utf8'));
const chart = parse(readFileSync(join(REPO_ROOT, 'charts', 'spillway', 'Chart.yaml'), 'utf8'));

type Step = { uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string>; id?: string };
const steps = (job: string): Step[] => workflow.jobs[job].steps;
const using = (job: string, action: string): Step => {
  const found = steps(job).filter((s) => s.uses?.split('@')[0] === action);
  if (found.length !== 1) throw new Error(`job ${job}: expected one step using ${action}, found ${found.length}`);
  return found[0];
};

function validate(file: string): { status: number | null; out: string } {
  const r = spawnSync(VALIDATOR, [file], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

describe('.github/workflows', () => {
  it.each(readdirSync(WORKFLOWS).filter((f) => f.endsWith('.yml')))('%s passes action-validator', (file) => {
    expect(validate(join(WORKFLOWS, file))).toEqual({ status: 0, out: '' });
  });

  it('action-validator refuses a broken copy (a misspelt permission)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spillway-workflow-'));
    try {
      const broken = join(dir, 'release.yml');
      writeFileSync(broken, readFileSync(RELEASE, 'utf8').replace('packages: write', 'packages: writ'));
      expect(validate(broken).status).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('npm run lint runs it on every workflow', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
    expect(pkg.scripts.lint).toMatch(/npm run lint:workflows$/);
    expect(pkg.scripts['lint:workflows']).toBe('for f in .github/workflows/*.yml; do action-validator "$f" || exit 1; done');
    expect(pkg.devDependencies['@action-validator/cli']).toBeDefined();
  });
});

describe('the release workflow', () => {
  it('runs on a version tag, tests first, then the image, then the chart', () => {
    expect(workflow.on).toEqual({ push: { tags: ['v*'] } });
    expect(workflow.jobs.image.needs).toBe('test');
    expect(workflow.jobs.chart.needs).toBe('image');
    expect(steps('test').map((s) => s.run).filter(Boolean)).toEqual(['tools/release-version.sh "$TAG"', 'sudo sh tools/test-deps.sh', '.ci/run']);
  });

  it('least privilege: nothing by default, packages: write only where something is pushed', () => {
    expect(workflow.permissions).toEqual({});
    expect(workflow.jobs.test.permissions).toEqual({ contents: 'read' });
    expect(workflow.jobs.image.permissions).toEqual({ contents: 'read', packages: 'write' });
    expect(workflow.jobs.chart.permissions).toEqual({ contents: 'read', packages: 'write' });
    for (const job of Object.keys(workflow.jobs)) expect(using(job, 'actions/checkout').with).toEqual({ 'persist-credentials': false });
  });

  it('every action is pinned to a commit, with its version in a comment', () => {
    const lines = readFileSync(RELEASE, 'utf8').split('\n').filter((l) => /^\s*-?\s*uses:/.test(l));
    expect(lines.length).toBeGreaterThanOrEqual(9);
    for (const line of lines) expect(line).toMatch(/uses: [\w.-]+\/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
  });

  it('builds and pushes the image for linux/amd64 and linux/arm64, tagged with the version the chart names', () => {
    expect(workflow.env.IMAGE).toBe('ghcr.io/spillway-io/spillway');
    expect(using('image', 'docker/setup-qemu-action').with).toEqual({ platforms: 'arm64' });
    using('image', 'docker/setup-buildx-action');
    expect(using('image', 'docker/login-action').with).toEqual({ registry: 'ghcr.io', username: '${{ github.actor }}', password: '${{ secrets.GITHUB_TOKEN }}' });
    const meta = using('image', 'docker/metadata-action');
    expect(meta.with?.images).toBe('${{ env.IMAGE }}');
    // {{version}} of tag v0.1.0 is 0.1.0: the chart's appVersion, its default image tag.
    expect(String(meta.with?.tags).split('\n').filter(Boolean)).toEqual(['type=semver,pattern={{version}}', 'type=semver,pattern={{major}}.{{minor}}']);
    const build = using('image', 'docker/build-push-action');
    expect(build.with).toEqual(
      expect.objectContaining({ context: '.', platforms: 'linux/amd64,linux/arm64', push: true, tags: `\${{ steps.${meta.id}.outputs.tags }}` }),
    );
  });

  it('packages the chart and pushes it to oci://ghcr.io/spillway-io/charts with the pinned Helm, the token through the environment', () => {
    expect(workflow.env.CHART_REGISTRY).toBe('oci://ghcr.io/spillway-io/charts');
    const helmVersion = /Version:"(v[\d.]+)"/.exec(helm(['version']).stdout)?.[1];
    expect(using('chart', 'azure/setup-helm').with).toEqual({ version: helmVersion });
    const push = steps('chart').find((s) => s.run?.includes('helm push'))!;
    expect(push.env).toEqual({ TAG: '${{ github.ref_name }}', ACTOR: '${{ github.actor }}', TOKEN: '${{ secrets.GITHUB_TOKEN }}' });
    // No ${{ }} inside scripts: values reach them as environment variables (no script injection).
    for (const job of Object.keys(workflow.jobs)) for (const s of steps(job)) expect(s.run ?? '').not.toMatch(/\$\{\{/);
    expect(push.run).toMatch(/helm package charts\/spillway --destination \.tmp\/chart\n/);
    expect(push.run).toMatch(/helm push "\.tmp\/chart\/spillway-\$version\.tgz" "\$CHART_REGISTRY"\n/);
  });
});

describe('tools/release-version.sh', () => {
  const run = (tag: string) => spawnSync('sh', [join(REPO_ROOT, 'tools', 'release-version.sh'), tag], { encoding: 'utf8', timeout: 10_000 });

  it("accepts the tag of this checkout's version and prints it", () => {
    const r = run(`v${chart.version}`);
    expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ status: 0, stdout: `${chart.version}\n`, stderr: '' });
  });

  it('refuses another version, naming everything that disagrees, and a non-version tag', () => {
    const r = run('v99.0.0');
    expect(r.status).toBe(1);
    for (const what of ['package.json version', 'Chart.yaml version', 'Chart.yaml appVersion', 'artifacthub.io/images']) expect(r.stderr).toContain(what);
    expect(run('main').status).toBe(1);
  });
});

describe('helm package', () => {
  it('packages the chart as spillway-<version>.tgz, the artefact the workflow pushes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spillway-chart-'));
    try {
      const r = helm(['package', join(REPO_ROOT, 'charts', 'spillway'), '--destination', dir]);
      expect(r.status).toBe(0);
      expect(readdirSync(dir)).toEqual([`spillway-${chart.version}.tgz`]);
      const shown = parse(helm(['show', 'chart', join(dir, `spillway-${chart.version}.tgz`)]).stdout);
      expect(shown).toEqual(expect.objectContaining({ home: 'https://github.com/spillway-io/spillway', appVersion: chart.appVersion }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
