/**
 * `spillway validate FILE…` (and `kubectl spillway validate`): every TrafficPolicy in the files,
 * checked by the rules the operator applies (api/validate.ts, the same verdicts as the CRD's
 * schema and CEL rules), each problem printed with its field path. Exit 0 when all are valid,
 * 1 when any is not (or a file holds none), 2 on a usage error. For CI and pre-commit hooks.
 */
import { validateManifests } from '../api/validate.js';
import { readFailure, readManifestFile } from '../lib/manifest-file.js';

export interface CommandIo {
  out(line: string): void;
  err(line: string): void;
}

export const VALIDATE_USAGE = (name: string) => `Usage: ${name} validate FILE… ("-" reads stdin)

Checks every TrafficPolicy in the YAML files (several documents per file; other kinds are
skipped) by the rules the API server and the operator apply. Prints each problem with its
field path; exits 0 when every policy is valid, 1 otherwise.
`;

/** Returns the exit code. */
export function validateFiles(files: string[], io: CommandIo): number {
  let failed = false;
  for (const file of files) {
    let text: string;
    try {
      text = readManifestFile(file);
    } catch (err) {
      io.err(`${file}: cannot read: ${readFailure(err)}`);
      failed = true;
      continue;
    }
    const verdicts = validateManifests(text);
    if (!verdicts.some((v) => !v.skipped)) {
      io.err(`${file}: no TrafficPolicy found`);
      failed = true;
      continue;
    }
    for (const v of verdicts) {
      const at = `${file}: document ${v.index}: ${v.what}`;
      if (v.skipped) io.out(`${at}: skipped (not a TrafficPolicy)`);
      else if (v.problems.length === 0) io.out(`${at}: valid`);
      else {
        failed = true;
        io.out(`${at}: invalid`);
        for (const p of v.problems) io.out(`  ${p}`);
      }
    }
  }
  return failed ? 1 : 0;
}

export function main(argv: string[], name = 'spillway'): Promise<void> {
  const io: CommandIo = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(VALIDATE_USAGE(name));
    return Promise.resolve();
  }
  const unknown = argv.find((a) => a.startsWith('-') && a !== '-');
  if (unknown !== undefined || argv.length === 0) {
    process.stderr.write(`${name} validate: ${unknown ? `unknown flag ${unknown}` : 'no file given'}\n\n${VALIDATE_USAGE(name)}`);
    process.exitCode = 2;
    return Promise.resolve();
  }
  process.exitCode = validateFiles(argv, io);
  return Promise.resolve();
}
