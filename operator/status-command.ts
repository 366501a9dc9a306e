/**
 * `kubectl spillway status [-n NS | -A]`: the TrafficPolicies with what the operator wrote in
 * their status (conditions, config version, ready replicas, per-class pod limits, active vendors),
 * one line each, read through the operator's own Kubernetes client with kubectl's kubeconfig rules.
 */
import { parseArgs } from 'node:util';
import type { TrafficPolicyStatus } from '../api/policy.js';
import type { PolicyObject } from './kube-api.js';
import { loadKubectlContext } from './kube.js';
import { ACCEPTED, findCondition, PROGRAMMED } from './status.js';

export const STATUS_USAGE = (name: string) => `Usage: ${name} status [-n NAMESPACE | -A] [--context NAME] [--kubeconfig FILE]

Lists TrafficPolicies: target, Accepted and Programmed (with the reason when not True), the
config version in Redis, the target's ready replicas, each class's limit per pod ("~": an
adaptive limit's starting point; "(shadow)": the class is in Shadow mode), and each
route's active vendor ("auto" until the operator makes a workload-wide choice: each pod then
follows its own failover window).

  -n, --namespace NAME     the namespace (default: the context's, else "default")
  -A, --all-namespaces     every namespace
      --context NAME       the kubeconfig context to use
      --kubeconfig FILE    the kubeconfig (default: KUBECONFIG, else ~/.kube/config)
`;

export interface StatusFlags {
  namespace?: string;
  allNamespaces: boolean;
  context?: string;
  kubeconfig?: string;
  help: boolean;
}

export function parseStatusFlags(argv: string[]): StatusFlags {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      namespace: { type: 'string', short: 'n' },
      'all-namespaces': { type: 'boolean', short: 'A' },
      context: { type: 'string' },
      kubeconfig: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (positionals.length > 0) throw new Error(`unexpected argument "${positionals[0]}"`);
  if (values.namespace !== undefined && values['all-namespaces']) throw new Error('-n and -A exclude each other');
  return {
    namespace: values.namespace,
    allNamespaces: values['all-namespaces'] ?? false,
    context: values.context,
    kubeconfig: values.kubeconfig,
    help: values.help ?? false,
  };
}

/** A condition's cell: its status, and its reason when not True (that is what one acts on). */
function conditionCell(status: TrafficPolicyStatus | undefined, type: string): string {
  const c = findCondition(status, type);
  if (!c) return '-';
  return c.status === 'True' ? 'True' : `${c.status}/${c.reason}`;
}

const list = (items: string[]): string => (items.length ? items.join(',') : '-');

/** The little of a (not validated) spec the table shows. */
interface SpecView {
  targetRef?: { kind?: unknown; name?: unknown };
  routes?: unknown;
}

/** `route=vendor` per route: the workload-wide choice in status, else `auto` (each pod follows its own window). */
function vendorCells(spec: SpecView, status: TrafficPolicyStatus | undefined): string[] {
  const active = new Map((status?.routes ?? []).map((r) => [r.name, r.activeVendor]));
  const names = Array.isArray(spec.routes) ? spec.routes.map((r) => (r as { name?: unknown } | null)?.name).filter((n): n is string => typeof n === 'string') : [];
  for (const n of active.keys()) if (!names.includes(n)) names.push(n);
  return names.map((n) => `${n}=${active.get(n) ?? 'auto'}`);
}

/** The rows, namespace first when `withNamespace`; sorted by namespace then name, as kubectl. */
export function statusRows(policies: PolicyObject[], withNamespace: boolean): string[][] {
  const header = ['NAME', 'TARGET', 'ACCEPTED', 'PROGRAMMED', 'VERSION', 'REPLICAS', 'POD LIMITS', 'VENDORS'];
  const rows = [...policies]
    .sort((a, b) => a.metadata.namespace.localeCompare(b.metadata.namespace) || a.metadata.name.localeCompare(b.metadata.name))
    .map((p) => {
      const spec = (p.spec ?? {}) as SpecView;
      const target = typeof spec.targetRef?.name === 'string' ? `${typeof spec.targetRef.kind === 'string' ? spec.targetRef.kind : 'Deployment'}/${spec.targetRef.name}` : '-';
      const s = p.status;
      const row = [
        p.metadata.name,
        target,
        conditionCell(s, ACCEPTED),
        conditionCell(s, PROGRAMMED),
        s?.configVersion === undefined ? '-' : String(s.configVersion),
        s?.readyReplicas === undefined ? '-' : String(s.readyReplicas),
        list((s?.classes ?? []).map((c) => `${c.name}=${c.podLimit}${c.adaptive === true ? '~' : ''}${c.mode === 'Shadow' ? '(shadow)' : ''}`)),
        list(vendorCells(spec, s)),
      ];
      return withNamespace ? [p.metadata.namespace, ...row] : row;
    });
  return [withNamespace ? ['NAMESPACE', ...header] : header, ...rows];
}

/** Columns padded to their widest cell, three spaces apart (kubectl's table). Cells are single-line. */
export function formatTable(rows: string[][]): string {
  const clean = rows.map((r) => r.map((c) => c.replace(/\p{Cc}/gu, '?')));
  const widths = clean[0].map((_, i) => Math.max(...clean.map((r) => r[i].length)));
  return clean.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('   ').trimEnd()).join('\n') + '\n';
}

export async function main(argv: string[], name = 'spillway'): Promise<void> {
  let flags: StatusFlags;
  try {
    flags = parseStatusFlags(argv);
  } catch (err) {
    process.stderr.write(`${name} status: ${err instanceof Error ? err.message : String(err)}\n\n${STATUS_USAGE(name)}`);
    process.exitCode = 2;
    return;
  }
  if (flags.help) {
    process.stdout.write(STATUS_USAGE(name));
    return;
  }
  const ctx = loadKubectlContext({ kubeconfig: flags.kubeconfig, context: flags.context });
  const namespace = flags.allNamespaces ? undefined : (flags.namespace ?? ctx.namespace);
  const { items } = await ctx.kube.policies.list(namespace);
  if (items.length === 0) {
    process.stderr.write(namespace ? `No TrafficPolicies found in ${namespace} namespace.\n` : 'No TrafficPolicies found.\n');
    return;
  }
  process.stdout.write(formatTable(statusRows(items, flags.allNamespaces)));
}
