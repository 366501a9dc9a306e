/**
 * `spillway explain FILE --request 'POST /login' [--header 'Name: value']… [--websocket]
 * [--replicas N] [--pod-name NAME] [--pods A,B,…] [--json]` (and `kubectl spillway explain`): what the sidecar
 * would do with that request under the policy in FILE, and why (explain.ts). Exit 0 when
 * explained, 1 when FILE holds no valid policy (its problems printed as `validate` prints
 * them), 2 on a usage error.
 */
import { parseArgs } from 'node:util';
import { POD_NAME } from '../api/config.js';
import { validateManifests } from '../api/validate.js';
import { readFailure, readManifestFile } from '../lib/manifest-file.js';
import { explainRequest, formatExplained, parseHeaders, parseRequestLine, withUpgradeHeaders } from './explain.js';

export const EXPLAIN_USAGE = (name: string) => `Usage: ${name} explain FILE --request 'METHOD /path[?query]' [flags] ("-" reads stdin)

Which class of the TrafficPolicy in FILE a request falls into and why, with the limit it gets in
a pod, its queue, timeout, refusal status and the load level at which it is shed.

Flags:
  --request 'METHOD /path[?query]'  the request line (required)
  --header 'Name: value'            a request header; repeat for more
  --websocket                       a WebSocket upgrade request
  --replicas N                      ready replicas a Cluster-scope limit is divided over
                                    (default: the number of --pods, else 1)
  --pod-name NAME                   the pod, for its share of a Cluster-scope remainder
  --pods A,B,…                      the ready pods' names: the first by name take the remainder
  --json                            print a JSON object (docs/cli.md) instead of lines
`;

const MAX_REPLICAS = 100_000;

export interface ExplainIo {
  out(text: string): void;
  err(text: string): void;
}

class UsageError extends Error {}

function parse(argv: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        request: { type: 'string' },
        header: { type: 'string', multiple: true, default: [] },
        websocket: { type: 'boolean', default: false },
        replicas: { type: 'string' },
        'pod-name': { type: 'string' },
        pods: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true as const };
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'no file given' : 'one policy file at a time');
  if (values.request === undefined) throw new UsageError('--request is required');
  const line = parseRequestLine(values.request);
  if (!line.ok) throw new UsageError(line.error);
  const headers = parseHeaders(values.header);
  if (!headers.ok) throw new UsageError(headers.error);
  const readyPods = values.pods === undefined ? null : parsePods(values.pods);
  let replicas = readyPods === null ? 1 : Math.max(1, readyPods.length);
  if (values.replicas !== undefined) {
    replicas = /^\d{1,6}$/.test(values.replicas) ? Number(values.replicas) : NaN;
    if (!(replicas >= 1 && replicas <= MAX_REPLICAS)) throw new UsageError(`--replicas: a whole number from 1 to ${MAX_REPLICAS}, got ${JSON.stringify(values.replicas)}`);
  }
  const podName = values['pod-name'] ?? null;
  if (podName !== null && !POD_NAME.test(podName)) throw new UsageError(`--pod-name: not a pod name: ${JSON.stringify(podName)}`);
  const h = headers.value;
  // The sidecar sees an upgrade when the request says Connection: upgrade and Upgrade.
  const upgrade = h.upgrade !== undefined && /(^|,)\s*upgrade\s*(,|$)/i.test(h.connection ?? '');
  if (values.websocket && line.value.method !== 'GET') throw new UsageError('--websocket: a WebSocket upgrade is a GET request');
  return {
    help: false as const,
    file: positionals[0],
    json: values.json,
    replicas,
    podName,
    readyPods,
    request: { ...line.value, headers: values.websocket ? withUpgradeHeaders(h) : h, websocket: values.websocket || upgrade },
  };
}

/** `--pods a,b,c`: distinct pod names, at most MAX_REPLICAS of them. */
function parsePods(list: string): string[] {
  const names = list === '' ? [] : list.split(',');
  if (names.length > MAX_REPLICAS) throw new UsageError(`--pods: more than ${MAX_REPLICAS} names`);
  const bad = names.find((n) => !POD_NAME.test(n));
  if (bad !== undefined) throw new UsageError(`--pods: not a pod name: ${JSON.stringify(bad.slice(0, 300))}`);
  if (new Set(names).size !== names.length) throw new UsageError('--pods: a name is given twice');
  return names;
}

/** Returns the exit code. */
export function explain(argv: string[], io: ExplainIo, name = 'spillway'): number {
  let args;
  try {
    args = parse(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`${name} explain: ${err.message}\n\n${EXPLAIN_USAGE(name)}`);
    return 2;
  }
  if (args.help) {
    io.out(EXPLAIN_USAGE(name));
    return 0;
  }
  let text: string;
  try {
    text = readManifestFile(args.file);
  } catch (err) {
    io.err(`${args.file}: cannot read: ${readFailure(err)}\n`);
    return 1;
  }
  const policies = validateManifests(text).filter((v) => !v.skipped);
  if (policies.length !== 1) {
    io.err(`${args.file}: ${policies.length === 0 ? 'no TrafficPolicy found' : `${policies.length} TrafficPolicies: explain takes a file with one`}\n`);
    return 1;
  }
  const [v] = policies;
  if (v.policy === undefined) {
    io.err(`${args.file}: document ${v.index}: ${v.what}: invalid\n${v.problems.map((p) => `  ${p}\n`).join('')}`);
    return 1;
  }
  const x = explainRequest(v.policy, args.request, { replicas: args.replicas, podName: args.podName, readyPods: args.readyPods });
  io.out(args.json ? `${JSON.stringify(x, null, 2)}\n` : formatExplained(x).map((l) => `${l}\n`).join(''));
  return 0;
}

export function main(argv: string[], name = 'spillway'): Promise<void> {
  process.exitCode = explain(argv, { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) }, name);
  return Promise.resolve();
}
