/**
 * The alert rules (charts/spillway/rules/spillway.rules.yaml): `promtool check rules`, the
 * promtool unit tests in test/rules/, and the bookkeeping around them: every alert has a firing
 * and a non-firing unit test, the fields the issue asks for, and a runbook in docs/runbooks/; the
 * chart's PrometheusRule renders exactly the same groups.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { helm, REPO_ROOT } from '../support/helm.js';

const RULES = join(REPO_ROOT, 'charts', 'spillway', 'rules', 'spillway.rules.yaml');
const TEST_DIR = join(REPO_ROOT, 'test', 'rules');
const TEST_FILES = readdirSync(TEST_DIR)
  .filter((f) => f.endsWith('.test.yaml'))
  .map((f) => join(TEST_DIR, f));

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}
interface RuleTestFile {
  tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}

const ruleFile = parse(readFileSync(RULES, 'utf8')) as RuleFile;
const alerts = ruleFile.groups.flatMap((g) => g.rules).filter((r): r is Rule & { alert: string } => Boolean(r.alert));

function promtool(args: string[]): { status: number; output: string } {
  const r = spawnSync('promtool', args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, output: r.stdout + r.stderr };
}

describe('alert rules', () => {
  it('pass promtool check rules', () => {
    const r = promtool(['check', 'rules', RULES]);
    expect(r.output).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  it('pass their promtool unit tests', () => {
    expect(TEST_FILES.length).toBeGreaterThan(0);
    const r = promtool(['test', 'rules', ...TEST_FILES]);
    if (r.status !== 0) throw new Error(r.output);
    expect(r.output).not.toContain('FAILED');
  });

  it('each has a firing and a non-firing unit test', () => {
    const cases = TEST_FILES.flatMap((f) => (parse(readFileSync(f, 'utf8')) as RuleTestFile).tests.flatMap((t) => t.alert_rule_test ?? []));
    const missing: string[] = [];
    for (const { alert } of alerts) {
      const mine = cases.filter((c) => c.alertname === alert);
      if (!mine.some((c) => (c.exp_alerts ?? []).length > 0)) missing.push(`${alert}: no firing case`);
      if (!mine.some((c) => (c.exp_alerts ?? []).length === 0)) missing.push(`${alert}: no non-firing case`);
    }
    expect(missing).toEqual([]);
  });

  it('each has severity, for, summary, description and a runbook that exists', () => {
    expect(alerts.length).toBeGreaterThanOrEqual(7);
    for (const a of alerts) {
      expect([a.alert, a.labels?.severity]).toEqual([a.alert, expect.stringMatching(/^(critical|warning|info)$/)]);
      expect([a.alert, a.for]).toEqual([a.alert, expect.stringMatching(/^\d+[smh]$/)]);
      expect([a.alert, a.annotations?.summary]).toEqual([a.alert, expect.any(String)]);
      expect([a.alert, a.annotations?.description]).toEqual([a.alert, expect.any(String)]);
      const runbook = `docs/runbooks/${a.alert}.md`;
      expect([a.alert, a.annotations?.runbook_url]).toEqual([a.alert, runbook]);
      expect([runbook, existsSync(join(REPO_ROOT, runbook))]).toEqual([runbook, true]);
    }
  });

  it('have no runbook without an alert', () => {
    const names = new Set(alerts.map((a) => `${a.alert}.md`));
    const orphans = readdirSync(join(REPO_ROOT, 'docs', 'runbooks')).filter((f) => f.endsWith('.md') && !names.has(f));
    expect(orphans).toEqual([]);
  });
});

describe('PrometheusRule in the chart', () => {
  function render(args: string[]): Array<Record<string, any>> {
    const r = helm(['template', 'sw', join(REPO_ROOT, 'charts', 'spillway'), '--namespace', 'spillway-system', ...args]);
    if (r.status !== 0) throw new Error(r.stderr);
    return parseAllDocuments(r.stdout)
      .map((d) => d.toJS() as Record<string, any> | null)
      .filter((o): o is Record<string, any> => o !== null && o.kind === 'PrometheusRule');
  }

  it('is off by default', () => {
    expect(render([])).toEqual([]);
  });

  it('renders the rule file unchanged, with runbook URLs under runbookBaseUrl', () => {
    const [plain] = render(['--set', 'alerts.enabled=true', '--set', 'alerts.labels.release=kps']);
    expect(plain.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(plain.metadata.labels.release).toBe('kps');
    expect(plain.spec).toEqual(ruleFile);

    const [based] = render(['--set', 'alerts.enabled=true', '--set', 'alerts.runbookBaseUrl=https://docs.example.org/spillway/runbooks/']);
    const urls = (based.spec as RuleFile).groups.flatMap((g) => g.rules).map((r) => r.annotations?.runbook_url);
    expect(urls).toEqual(alerts.map((a) => `https://docs.example.org/spillway/runbooks/${a.alert}.md`));
  });
});
