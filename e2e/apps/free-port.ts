import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Ports handed to child processes are drawn from below the kernel's ephemeral range: a port
 * found free with listen(0) lies inside that range, where any outbound connection made before
 * the child binds (a Kafka or Redis client, a load generator) can take it — EADDRINUSE in a test
 * for no fault of the code under test. Ports already handed out by this process are not reused.
 */
const handedOut = new Set<number>();

function ephemeralStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && low > 12_000) return low;
  } catch {
    // Not Linux: fall back to the IANA ephemeral range's start.
  }
  return 49_152;
}

const RANGE_LOW = 10_000;
const RANGE_HIGH = ephemeralStart() - 1;

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A port on 127.0.0.1 that was free a moment ago (for child processes that take a port flag). */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = RANGE_LOW + Math.floor(Math.random() * (RANGE_HIGH - RANGE_LOW));
    if (handedOut.has(port)) continue;
    if (await canListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port found in ${RANGE_LOW}..${RANGE_HIGH}`);
}
