/** A kubeconfig for the double: one cluster, a token user, its context selected. */
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

export const TOKEN = 'kube-double-token';

export function kubeconfig(server: string, namespace = 'default'): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    // client-node refuses plain HTTP unless TLS verification is off; there is no TLS here at all.
    clusters: [{ name: 'kube-double', cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'kube-double', user: { token: TOKEN } }],
    contexts: [{ name: 'kube-double', context: { cluster: 'kube-double', user: 'kube-double', namespace } }],
    'current-context': 'kube-double',
    preferences: {},
  });
}

export function writeKubeconfig(file: string, server: string, namespace?: string): void {
  writeFileSync(file, kubeconfig(server, namespace), { mode: 0o600 });
}
