/**
 * The webhook's serving certificate: from a mounted directory (cert-manager's Secret, reloaded
 * when it rotates), or self-signed: a CA and a serving certificate kept in one Secret that
 * every replica shares (the first to create it wins), with the CA patched into the
 * MutatingWebhookConfiguration's caBundle. X.509 building is node-forge's (Node has none).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';
import type { Logger } from '../lib/log.js';
import { isStatus, type SecretRecord, type WebhookKubeApi } from './kube-api.js';

export interface TlsPair {
  cert: string;
  key: string;
}

export interface SelfSignedMaterial extends TlsPair {
  caCert: string;
  caKey: string;
}

const DAY_MS = 86_400_000;
const CA_VALIDITY_DAYS = 3650;
const SERVING_VALIDITY_DAYS = 365;
/** A serving certificate this close to expiry is reissued (by the same CA: the caBundle stays). */
const RENEW_BEFORE_DAYS = 30;

/** tls.crt and tls.key from `dir`, or null when either is missing. */
export function readCertDir(dir: string): TlsPair | null {
  try {
    return { cert: readFileSync(join(dir, 'tls.crt'), 'utf8'), key: readFileSync(join(dir, 'tls.key'), 'utf8') };
  } catch {
    return null;
  }
}

/**
 * Polls `dir` and calls onChange with the new pair when its content changes. Polling, not
 * fs.watch: a Secret volume is updated by swapping a symlinked directory, which watchers miss.
 */
export function watchCertDir(dir: string, initial: TlsPair, intervalMs: number, onChange: (pair: TlsPair) => void): { stop(): void } {
  let current = initial;
  const timer = setInterval(() => {
    const next = readCertDir(dir);
    if (next && (next.cert !== current.cert || next.key !== current.key)) {
      current = next;
      onChange(next);
    }
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/** The names the API server may use for the Service: it connects to <service>.<namespace>.svc. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

function serial(): string {
  // Positive (high bit clear), 16 random bytes.
  const b = randomBytes(16);
  b[0] &= 0x7f;
  return b.toString('hex');
}

function newCertificate(publicKey: forge.pki.PublicKey, now: Date, days: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serial();
  // A little slack for clocks behind ours.
  cert.validity.notBefore = new Date(now.getTime() - 5 * 60_000);
  cert.validity.notAfter = new Date(now.getTime() + days * DAY_MS);
  return cert;
}

export function generateCa(commonName: string, now = new Date()): { caCert: string; caKey: string } {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
  const cert = newCertificate(keys.publicKey, now, CA_VALIDITY_DAYS);
  const name = [{ name: 'commonName', value: commonName }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { caCert: forge.pki.certificateToPem(cert), caKey: forge.pki.privateKeyToPem(keys.privateKey) };
}

export function issueServingCert(ca: { caCert: string; caKey: string }, dnsNames: string[], now = new Date()): TlsPair {
  const caCert = forge.pki.certificateFromPem(ca.caCert);
  const caKey = forge.pki.privateKeyFromPem(ca.caKey);
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
  const cert = newCertificate(keys.publicKey, now, SERVING_VALIDITY_DAYS);
  cert.setSubject([{ name: 'commonName', value: dnsNames[0] }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: dnsNames.map((value) => ({ type: 2, value })) },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) };
}

/** Usable as stored: parses, the CA signed the serving cert, every name is in it, not expiring. */
export function isUsable(m: SelfSignedMaterial, dnsNames: string[], now = new Date()): { ca: boolean; serving: boolean } {
  try {
    const ca = forge.pki.certificateFromPem(m.caCert);
    forge.pki.privateKeyFromPem(m.caKey);
    const caOk = ca.validity.notAfter.getTime() - now.getTime() > RENEW_BEFORE_DAYS * DAY_MS;
    if (!caOk) return { ca: false, serving: false };
    const cert = forge.pki.certificateFromPem(m.cert);
    forge.pki.privateKeyFromPem(m.key);
    const san = cert.getExtension('subjectAltName') as { altNames?: { value?: string }[] } | null;
    const names = new Set((san?.altNames ?? []).map((a) => a.value));
    const serving = ca.verify(cert) && cert.validity.notAfter.getTime() - now.getTime() > RENEW_BEFORE_DAYS * DAY_MS && dnsNames.every((n) => names.has(n));
    return { ca: true, serving };
  } catch {
    return { ca: false, serving: false };
  }
}

const toData = (m: SelfSignedMaterial): Record<string, string> => ({ 'tls.crt': m.cert, 'tls.key': m.key, 'ca.crt': m.caCert, 'ca.key': m.caKey });
const fromData = (d: Record<string, string>): SelfSignedMaterial => ({ cert: d['tls.crt'] ?? '', key: d['tls.key'] ?? '', caCert: d['ca.crt'] ?? '', caKey: d['ca.key'] ?? '' });

export interface SharedCertOptions {
  namespace: string;
  /** The Secret all replicas share (<release>-webhook-tls). */
  secretName: string;
  service: string;
  /** The MutatingWebhookConfiguration whose caBundle gets the CA. */
  configName: string;
  log: Logger;
  now?: () => Date;
}

/**
 * Get-or-create of the shared self-signed material, then the caBundle. Safe for replicas racing:
 * creates and replacements are guarded (409 → read what the winner stored and use that).
 */
export async function ensureSharedCert(kube: WebhookKubeApi, o: SharedCertOptions): Promise<SelfSignedMaterial> {
  const names = serviceDnsNames(o.service, o.namespace);
  const now = (o.now ?? (() => new Date()))();
  let material: SelfSignedMaterial | undefined;
  for (let attempt = 0; material === undefined; attempt++) {
    if (attempt >= 5) throw new Error(`Secret ${o.namespace}/${o.secretName}: still conflicting after ${attempt} attempts`);
    const stored = await kube.getSecret(o.namespace, o.secretName);
    if (stored === null) {
      const fresh = freshMaterial(names, now);
      try {
        await kube.createSecret(o.namespace, o.secretName, toData(fresh));
        o.log.info('created the CA and serving certificate', { secret: `${o.namespace}/${o.secretName}` });
        material = fresh;
      } catch (err) {
        if (!isStatus(err, 409)) throw err; // another replica created it: read theirs
      }
      continue;
    }
    const current = fromData(stored.data);
    const usable = isUsable(current, names, now);
    if (usable.ca && usable.serving) {
      material = current;
      continue;
    }
    const renewed = usable.ca ? { ...current, ...issueServingCert(current, names, now) } : freshMaterial(names, now);
    try {
      await kube.replaceSecret(o.namespace, o.secretName, { data: toData(renewed), resourceVersion: stored.resourceVersion } satisfies SecretRecord);
      o.log.info(usable.ca ? 'reissued the serving certificate' : 'replaced the CA and serving certificate', { secret: `${o.namespace}/${o.secretName}` });
      material = renewed;
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
    }
  }
  const caBundle = Buffer.from(material.caCert).toString('base64');
  if (await kube.patchWebhookCaBundle(o.configName, caBundle)) o.log.info('caBundle set', { mutatingWebhookConfiguration: o.configName });
  return material;
}

function freshMaterial(names: string[], now: Date): SelfSignedMaterial {
  const ca = generateCa(`spillway-webhook-ca ${now.toISOString()}`, now);
  return { ...ca, ...issueServingCert(ca, names, now) };
}

/**
 * Re-runs ensureSharedCert every intervalMs: picks up a serving certificate another replica
 * reissued, renews one near expiry, and restores a caBundle a `helm upgrade` emptied.
 */
export function keepSharedCert(
  kube: WebhookKubeApi,
  o: SharedCertOptions,
  initial: SelfSignedMaterial,
  intervalMs: number,
  onChange: (pair: TlsPair) => void,
): { stop(): void } {
  let current = initial;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    ensureSharedCert(kube, o)
      .then((next) => {
        if (next.cert !== current.cert || next.key !== current.key) onChange(next);
        current = next;
      })
      .catch((err: unknown) => o.log.warn('certificate check failed; retrying', { err }))
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
