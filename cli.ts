/**
 * `spillway <command>`: one binary, two processes and the commands that read policies. Each
 * command module exports `main(argv, name): Promise<void>` and owns its own flags. Installed
 * as `kubectl-spillway` too, it is a kubectl plugin: `kubectl spillway status -A`.
 */
import { basename } from 'node:path';
import { createLogger } from './lib/log.js';

/** How the user called us: kubectl runs the plugin as kubectl-spillway. */
const NAME = basename(process.argv[1] ?? '') === 'kubectl-spillway' ? 'kubectl spillway' : 'spillway';

const USAGE = `Usage: ${NAME} <command> [flags]

Commands:
  status     TrafficPolicies with their conditions, config version, pod limits and vendors (${NAME} status --help)
  validate   check TrafficPolicy files as the API server and the operator would (${NAME} validate --help)
  explain    which class of a policy a request falls into and why, with its limit, queue and shedding (${NAME} explain --help)
  sidecar    the load-shedding proxy in front of a pod (${NAME} sidecar --help)
  operator   the TrafficPolicy controller (${NAME} operator --help)
`;

async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'status':
      return (await import('./operator/status-command.js')).main(rest, NAME);
    case 'validate':
      return (await import('./operator/validate-command.js')).main(rest, NAME);
    case 'explain':
      return (await import('./sidecar/explain-command.js')).main(rest, NAME);
    case 'sidecar':
      return (await import('./sidecar/main.js')).main(rest);
    case 'operator':
      return (await import('./operator/main.js')).main(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`${NAME}: unknown command "${command}"\n\n${USAGE}`);
      process.exitCode = 2;
  }
}

/**
 * The two processes report a failure to start (a port in use, an unreadable kubeconfig) or a
 * crash as a log line like any other, with its stack; the commands a person runs, as a sentence.
 */
const processName = process.argv[2] === 'sidecar' || process.argv[2] === 'operator' ? process.argv[2] : undefined;
const fatal = (what: string, err: unknown): never => {
  if (processName) createLogger({ fields: { component: processName } }).error(what, { err });
  else process.stderr.write(`${NAME}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
};
if (processName) process.on('uncaughtException', (err) => fatal('uncaught exception; exiting', err));
run(process.argv.slice(2)).catch((err: unknown) => fatal('could not start; exiting', err));
