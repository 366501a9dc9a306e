/**
 * `spillway <command>`: one binary, two processes. Each command module exports
 * `main(argv): Promise<void>` and owns its own flags.
 */
import { createLogger } from './lib/log.js';

const USAGE = `Usage: spillway <command> [flags]

Commands:
  sidecar    the load-shedding proxy in front of a pod (spillway sidecar --help)
  operator   the TrafficPolicy controller (spillway operator --help)
`;

async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
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
      process.stderr.write(`spillway: unknown command "${command}"\n\n${USAGE}`);
      process.exitCode = 2;
  }
}

// A failure to start (a port in use, an unreadable kubeconfig) or a crash is a log line like any
// other, with its stack, rather than Node's plain-text report.
const fatal = createLogger({ fields: { component: process.argv[2] === 'operator' ? 'operator' : 'sidecar' } });
process.on('uncaughtException', (err) => {
  fatal.error('uncaught exception; exiting', { err });
  process.exit(1);
});
run(process.argv.slice(2)).catch((err: unknown) => {
  fatal.error('could not start; exiting', { err });
  process.exit(1);
});
