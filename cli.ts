/**
 * `spillway <command>`: one binary, two processes. Each command module exports
 * `main(argv): Promise<void>` and owns its own flags.
 */
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

run(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`spillway: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
