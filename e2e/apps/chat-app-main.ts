/**
 * Runs the demo chat app alone:
 *   node dist/e2e/apps/chat-app-main.js --port 8080 --workers 100 [--load-factor 1] [--message-ms 10] ...
 * Prints one line `chat-app listening on <url>` once it accepts connections; stops on SIGTERM/SIGINT.
 */
import { parseArgs } from 'node:util';
import { startChatApp, type ChatAppOptions } from './chat-app.js';

const NUMERIC_FLAGS = {
  port: 'port',
  workers: 'workers',
  'load-factor': 'loadFactor',
  'max-backlog': 'maxBacklog',
  'login-ms': 'loginMs',
  'background-login-ms': 'backgroundLoginMs',
  'message-ms': 'messageMs',
  'sync-ms': 'syncMs',
  'poll-hold-ms': 'pollHoldMs',
  'heartbeat-ms': 'heartbeatMs',
} as const satisfies Record<string, keyof ChatAppOptions>;

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    ...Object.fromEntries(Object.keys(NUMERIC_FLAGS).map((flag) => [flag, { type: 'string' as const }])),
  },
});

const options: ChatAppOptions = {};
if (typeof values.host === 'string') options.host = values.host;
for (const [flag, key] of Object.entries(NUMERIC_FLAGS)) {
  const raw = (values as Record<string, string | boolean | undefined>)[flag];
  if (raw === undefined) continue;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) {
    process.stderr.write(`chat-app: --${flag} must be a non-negative number, got "${String(raw)}"\n`);
    process.exit(2);
  }
  options[key] = n;
}

const app = await startChatApp(options);
process.stdout.write(`chat-app listening on ${app.url}\n`);
const stop = (): void => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
