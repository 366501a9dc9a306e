/**
 * `npm run kube:double -- --port <port> --kubeconfig <file> [--crds <dir>] [--history <n>] [--no-controllers]`:
 * the API-server double on 127.0.0.1 until killed (SIGINT/SIGTERM close it cleanly).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startKubeDouble } from './server.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      kubeconfig: { type: 'string' },
      crds: { type: 'string', default: join(root, 'crds') },
      history: { type: 'string', default: '1000' },
      'no-controllers': { type: 'boolean', default: false },
    },
  });
  const double = await startKubeDouble({
    port: Number(values.port),
    crdDir: values.crds,
    historyLimit: Number(values.history),
    controllers: !values['no-controllers'],
  });
  if (values.kubeconfig) double.writeKubeconfig(values.kubeconfig);
  process.stdout.write(`kube-double listening on ${double.url}${values.kubeconfig ? `, kubeconfig ${values.kubeconfig}` : ''}\n`);
  const stop = (): void => {
    void double.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`kube-double: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
