/**
 * kubectl's typed commands (`kubectl create namespace`, ...) send Kubernetes protobuf bodies.
 * The double decodes the envelope and ObjectMeta only, which covers objects whose other
 * fields are empty (a new Namespace); anything more is refused with 415 naming the way out.
 */
import { ApiError } from './errors.js';

export const PROTOBUF = 'application/vnd.kubernetes.protobuf';
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

type Fields = Map<number, Buffer[]>;

function varint(buf: Buffer, pos: { i: number }): number {
  let result = 0;
  let shift = 0;
  for (;;) {
    const b = buf[pos.i++];
    result += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return result;
    shift += 7;
  }
}

/** Length-delimited fields by number (varints are skipped: ObjectMeta's are output-only). */
function fields(buf: Buffer): Fields {
  const out: Fields = new Map();
  const pos = { i: 0 };
  while (pos.i < buf.length) {
    const tag = varint(buf, pos);
    const wire = tag & 7;
    if (wire === 0) varint(buf, pos);
    else if (wire === 2) {
      const len = varint(buf, pos);
      const list = out.get(tag >>> 3) ?? [];
      list.push(buf.subarray(pos.i, pos.i + len));
      out.set(tag >>> 3, list);
      pos.i += len;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
  return out;
}

/** A message whose fields are all empty (kubectl sends `status: {phase: ""}` for a new Namespace). */
function isEmpty(buf: Buffer): boolean {
  if (buf.length === 0) return true;
  try {
    return [...fields(buf).values()].every((vs) => vs.every(isEmpty));
  } catch {
    return false;
  }
}

const str = (f: Fields, n: number): string | undefined => f.get(n)?.[0]?.toString('utf8');

function stringMap(entries: Buffer[] | undefined): Record<string, string> | undefined {
  if (!entries) return undefined;
  return Object.fromEntries(entries.map((e) => fields(e)).map((kv) => [str(kv, 1) ?? '', str(kv, 2) ?? '']));
}

const unsupported = (why: string): ApiError =>
  new ApiError(415, 'UnsupportedMediaType', `the kube double reads protobuf bodies only for metadata-only objects (${why}); send JSON, e.g. kubectl create -f or kubectl apply -f`);

export function decodeProtobuf(body: Buffer): unknown {
  if (!body.subarray(0, 4).equals(MAGIC)) throw unsupported('no k8s envelope');
  const unknown = fields(body.subarray(4));
  const typeMeta = fields(unknown.get(1)?.[0] ?? Buffer.alloc(0));
  const object = fields(unknown.get(2)?.[0] ?? Buffer.alloc(0));
  for (const [n, values] of object) if (n !== 1 && !values.every(isEmpty)) throw unsupported(`field ${n} of ${str(typeMeta, 2) ?? 'the object'} is set`);
  const meta = fields(object.get(1)?.[0] ?? Buffer.alloc(0));
  const metadata: Record<string, unknown> = { name: str(meta, 1), generateName: str(meta, 2), namespace: str(meta, 3), labels: stringMap(meta.get(11)), annotations: stringMap(meta.get(12)) };
  for (const k of Object.keys(metadata)) if (metadata[k] === undefined || metadata[k] === '') delete metadata[k];
  return { apiVersion: str(typeMeta, 1), kind: str(typeMeta, 2), metadata };
}
