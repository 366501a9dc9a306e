/**
 * A custom resource's openAPIV3Schema applied as the API server does: prune unknown fields,
 * apply defaults, validate (ajv), then evaluate the `x-kubernetes-validations` CEL rules.
 * Failures come back as Status causes (`spec.x: Invalid value: ...`).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse as parseCel, type ParseResult } from '@marcbachmann/cel-js';
import type { StatusCause } from './errors.js';
import type { JSONSchema } from './registry.js';

type JsonObject = Record<string, unknown>;
const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);

// ajv-formats is CommonJS: its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: Ajv) => Ajv;

/** Rewrites OpenAPI v3.0 / Kubernetes keywords into what ajv (draft-07) understands. */
export function toAjvSchema(node: JSONSchema): JSONSchema {
  const out: JSONSchema = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'properties') out.properties = Object.fromEntries(Object.entries(v as Record<string, JSONSchema>).map(([p, s]) => [p, toAjvSchema(s)]));
    else if (k === 'items' || (k === 'additionalProperties' && isObject(v)) || k === 'not') out[k] = toAjvSchema(v as JSONSchema);
    else if (k === 'anyOf' || k === 'allOf' || k === 'oneOf') out[k] = (v as JSONSchema[]).map(toAjvSchema);
    else if (k === 'exclusiveMinimum' || k === 'exclusiveMaximum') {
      if (v === true) out[k] = node[k === 'exclusiveMinimum' ? 'minimum' : 'maximum'];
    } else if (k.startsWith('x-kubernetes-') || k === 'nullable' || k === 'example' || k === 'externalDocs') continue;
    else out[k] = v;
  }
  if (node.exclusiveMinimum === true) delete out.minimum;
  if (node.exclusiveMaximum === true) delete out.maximum;
  if (node['x-kubernetes-int-or-string'] === true) return { ...out, anyOf: [{ type: 'integer' }, { type: 'string' }] };
  if (node.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  return out;
}

export function newAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, verbose: true });
  addFormats(ajv);
  for (const f of ['int32', 'int64', 'float', 'double', 'byte', 'password', 'cidr']) ajv.addFormat(f, true);
  return ajv;
}

/** `/spec/classes/0/name` → `spec.classes[0].name` */
export function fieldPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(seg) ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  }
  return out;
}

const shown = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : typeof v === 'object' && v !== null ? `"${Array.isArray(v) ? 'array' : 'object'}"` : String(v));

function cause(e: ErrorObject): StatusCause {
  const field = fieldPath(e.instancePath);
  const p = e.params as Record<string, unknown>;
  const value = e.data;
  const at = `${field} in body`;
  switch (e.keyword) {
    case 'required':
      return { reason: 'FieldValueRequired', field: field ? `${field}.${String(p.missingProperty)}` : String(p.missingProperty), message: 'Required value' };
    case 'enum':
      return { reason: 'FieldValueNotSupported', field, message: `Unsupported value: ${shown(value)}: supported values: ${(p.allowedValues as unknown[]).map((a) => JSON.stringify(String(a))).join(', ')}` };
    case 'type':
      return { reason: 'FieldValueTypeInvalid', field, message: `Invalid value: ${shown(value)}: ${at} must be of type ${String(p.type)}: ${JSON.stringify(typeof value)}` };
    case 'minimum':
    case 'exclusiveMinimum':
      return { reason: 'FieldValueInvalid', field, message: `Invalid value: ${shown(value)}: ${at} should be greater than ${p.comparison === '>=' ? 'or equal to ' : ''}${String(p.limit)}` };
    case 'maximum':
    case 'exclusiveMaximum':
      return { reason: 'FieldValueInvalid', field, message: `Invalid value: ${shown(value)}: ${at} should be less than ${p.comparison === '<=' ? 'or equal to ' : ''}${String(p.limit)}` };
    case 'pattern':
      return { reason: 'FieldValueInvalid', field, message: `Invalid value: ${shown(value)}: ${at} should match '${String(p.pattern)}'` };
    case 'minLength':
      return { reason: 'FieldValueInvalid', field, message: `Invalid value: ${shown(value)}: ${at} should be at least ${String(p.limit)} chars long` };
    case 'maxLength':
      return { reason: 'FieldValueTooLong', field, message: `Too long: may not be more than ${String(p.limit)} bytes` };
    case 'minItems':
      return { reason: 'FieldValueInvalid', field, message: `Invalid value: ${(value as unknown[]).length}: ${at} should have at least ${String(p.limit)} items` };
    case 'maxItems':
      return { reason: 'FieldValueTooMany', field, message: `Too many: ${(value as unknown[]).length}: must have at most ${String(p.limit)} items` };
    default:
      return { reason: 'FieldValueInvalid', field, message: `Invalid value: ${shown(value)}: ${at} ${e.message ?? 'is invalid'}` };
  }
}

/** A compiled schema: one per custom resource version. */
export class CrSchema {
  private readonly validate: ValidateFunction;

  constructor(private readonly schema: JSONSchema, ajv: Ajv = newAjv()) {
    this.validate = ajv.compile(toAjvSchema(schema));
  }

  /** Removes fields the schema does not declare (in place); returns their paths. */
  prune(obj: JsonObject): string[] {
    const unknown: string[] = [];
    walkPrune(obj, this.schema, '', unknown, true);
    return unknown;
  }

  /** Applies the defaults only (in place), whatever else is wrong: for partial apply configurations. */
  applyDefaults(obj: JsonObject): JsonObject {
    this.validate(obj);
    return obj;
  }

  /** Defaults (in place) and validates; returns the causes of failure, empty when valid. */
  check(obj: JsonObject): StatusCause[] {
    const causes = this.validate(obj) ? [] : (this.validate.errors ?? []).map(cause);
    // A JSON copy: plain objects of this realm (structuredClone's come from another under jest's VM).
    if (causes.length === 0) evalCel(JSON.parse(JSON.stringify(obj)), this.schema, '', causes);
    return causes;
  }
}

function walkPrune(value: unknown, schema: JSONSchema | undefined, path: string, unknown: string[], root = false): void {
  if (!schema || schema['x-kubernetes-preserve-unknown-fields'] === true && !schema.properties) return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => walkPrune(v, schema.items as JSONSchema | undefined, `${path}[${i}]`, unknown));
    return;
  }
  if (!isObject(value)) return;
  const props = schema.properties as Record<string, JSONSchema> | undefined;
  const additional = schema.additionalProperties;
  for (const k of Object.keys(value)) {
    const sub = `${path ? `${path}.` : ''}${k}`;
    if (root && (k === 'apiVersion' || k === 'kind' || k === 'metadata')) continue;
    if (props && k in props) walkPrune(value[k], props[k], sub, unknown);
    else if (isObject(additional)) walkPrune(value[k], additional as JSONSchema, sub, unknown);
    else if (props && schema['x-kubernetes-preserve-unknown-fields'] !== true) {
      unknown.push(sub);
      delete value[k];
    }
  }
}

const celCache = new Map<string, ParseResult>();

function compileCel(source: string): ParseResult {
  let fn = celCache.get(source);
  if (!fn) celCache.set(source, (fn = parseCel(source)));
  return fn;
}

function evalCel(value: unknown, schema: JSONSchema | undefined, path: string, causes: StatusCause[]): void {
  if (!schema || value === undefined) return;
  const rules = (schema['x-kubernetes-validations'] as Array<{ rule: string; message?: string; fieldPath?: string }> | undefined) ?? [];
  for (const r of rules) {
    if (/\boldSelf\b/.test(r.rule)) continue; // transition rules: the double keeps no old object here
    const message = r.message ?? `failed rule: ${r.rule}`;
    let ok: unknown;
    try {
      ok = compileCel(r.rule)({ self: value });
    } catch (err) {
      ok = err instanceof Error ? err.message : String(err);
    }
    if (ok !== true) {
      const field = `${path}${r.fieldPath ?? ''}`;
      const why = typeof ok === 'string' ? `${message} (${ok})` : message;
      causes.push({ reason: 'FieldValueInvalid', field, message: `Invalid value: ${shown(value)}: ${why}` });
    }
  }
  if (Array.isArray(value)) value.forEach((v, i) => evalCel(v, schema.items as JSONSchema | undefined, `${path}[${i}]`, causes));
  else if (isObject(value)) {
    const props = (schema.properties as Record<string, JSONSchema> | undefined) ?? {};
    for (const [k, v] of Object.entries(value)) {
      const sub = props[k] ?? (isObject(schema.additionalProperties) ? (schema.additionalProperties as JSONSchema) : undefined);
      evalCel(v, sub, path ? `${path}.${k}` : k, causes);
    }
  }
}
