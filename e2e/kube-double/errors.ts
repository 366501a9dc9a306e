/** Kubernetes `Status` failures, shaped so kubectl and client-node print them as for a real API server. */

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface GroupKind {
  group: string;
  kind: string;
  /** e.g. "trafficpolicies.spillway.io" or "deployments.apps" */
  qualified: string;
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: { name?: string; group?: string; kind?: string; causes?: StatusCause[] },
  ) {
    super(message);
  }

  toStatus(): object {
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: this.message, reason: this.reason, details: this.details, code: this.code };
  }
}

export const notFound = (gk: GroupKind, name: string): ApiError =>
  new ApiError(404, 'NotFound', `${gk.qualified} "${name}" not found`, { name, group: gk.group, kind: plural(gk) });

export const alreadyExists = (gk: GroupKind, name: string): ApiError =>
  new ApiError(409, 'AlreadyExists', `${gk.qualified} "${name}" already exists`, { name, group: gk.group, kind: plural(gk) });

export const conflict = (gk: GroupKind, name: string, why = 'the object has been modified; please apply your changes to the latest version and try again'): ApiError =>
  new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${gk.qualified} "${name}": ${why}`, { name, group: gk.group, kind: plural(gk) });

export const invalid = (gk: GroupKind, name: string, causes: StatusCause[]): ApiError =>
  new ApiError(
    422,
    'Invalid',
    `${gk.kind}${gk.group ? `.${gk.group}` : ''} "${name}" is invalid: ${causes.length === 1 ? `${causes[0].field}: ${causes[0].message}` : `[${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}]`}`,
    { name, group: gk.group, kind: gk.kind, causes },
  );

export const badRequest = (message: string): ApiError => new ApiError(400, 'BadRequest', message);

export const gone = (message: string): ApiError => new ApiError(410, 'Expired', message);

export const unsupportedMediaType = (type: string): ApiError =>
  new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got ${type})`);

function plural(gk: GroupKind): string {
  return gk.qualified.split('.')[0];
}
