/**
 * Reading a manifest file a user names on the command line (`spillway validate`, `explain`,
 * `npm run scenario -- --policy`): "-" is stdin; only regular files, and none larger than any
 * object the API server stores (etcd's request limit is 1.5 MiB).
 */
import { readFileSync, statSync } from 'node:fs';

export const MAX_MANIFEST_BYTES = 3 * 1024 * 1024;

/** The file's bytes. Throws with a short reason ("not a regular file", "larger than …", or the errno code). */
export function readManifestBytes(file: string): Buffer {
  if (file === '-') return readFileSync(0);
  const st = statSync(file);
  if (!st.isFile()) throw new Error('not a regular file');
  if (st.size > MAX_MANIFEST_BYTES) throw new Error(`larger than ${MAX_MANIFEST_BYTES} bytes`);
  return readFileSync(file);
}

/** The file as UTF-8 text; throws as readManifestBytes. */
export function readManifestFile(file: string): string {
  return readManifestBytes(file).toString('utf8');
}

/** The reason of a readManifestFile failure, as the commands print it after "cannot read: ". */
export function readFailure(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
}
