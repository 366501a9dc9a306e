/**
 * The slowloris client as its own process, so its bookkeeping never stalls the event loop of the
 * load generator it runs beside:
 *   node dist/e2e/loadgen/slowloris-main.js <port> <connections> <byteEveryMs>
 * Driven over the IPC channel: it sends {ready}; {cmd: 'start'} starts the attack; {cmd: 'stop',
 * waitMs} stops it, and it answers {report} and exits. It exits too if its parent goes away.
 */
import { Slowloris } from './slowloris.js';

export type SlowlorisCommand = { cmd: 'start' } | { cmd: 'stop'; waitMs: number };

const [port, connections, byteEveryMs] = process.argv.slice(2).map(Number);
if (!process.send || ![port, connections, byteEveryMs].every((n) => Number.isInteger(n) && n > 0)) {
  process.stderr.write('usage (with an IPC channel): slowloris-main.js <port> <connections> <byteEveryMs>\n');
  process.exit(2);
}
const send = process.send.bind(process);
const attack = new Slowloris({ port, connections, byteEveryMs });
process.on('message', (m: SlowlorisCommand) => {
  if (m.cmd === 'start') attack.start();
  else void attack.stop(m.waitMs).then(() => send({ report: attack.report }, () => process.exit(0)));
});
process.on('disconnect', () => process.exit(0));
send({ ready: true });
