/**
 * Raw-byte HTTP test fixtures: an "app" on node:net that records every byte it gets and answers
 * by script, and a raw client. Nothing here parses HTTP, so they cannot agree with the engine by
 * sharing its mistakes.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** An upstream answer: bytes to write, then optionally end or cut the connection. */
export interface Reply {
  data: string;
  /** End the connection after writing (close-delimited bodies, Connection: close). */
  end?: boolean;
  /** Cut the connection after writing (an app dying mid-answer). */
  destroy?: boolean;
}

/**
 * The app: `expect[i]` is how many bytes (as a string, compared in tests) the i-th step waits
 * for, `reply[i]` what it then writes on the connection that completed the step.
 */
export class RawApp {
  received = '';
  connections = 0;
  /** Connections the proxy closed. */
  closedByPeer = 0;
  private steps: string[] = [];
  private replies: (string | Reply)[] = [];
  private step = 0;
  private consumed = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(readonly server: Server) {}

  static async start(): Promise<RawApp> {
    let app: RawApp | null = null;
    const server = createServer((s) => (app as RawApp).accept(s));
    app = new RawApp(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return app;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  script(steps: string[], replies: (string | Reply)[]): void {
    this.received = '';
    this.steps = steps;
    this.replies = replies;
    this.step = 0;
    this.consumed = 0;
    this.closedByPeer = 0;
  }

  /** Drops every connection (between cases, so none carries state into the next). */
  reset(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.reset();
    await new Promise((r) => this.server.close(r));
  }

  private accept(s: Socket): void {
    this.connections++;
    this.sockets.add(s);
    s.on('data', (c: Buffer) => {
      this.received += c.toString('latin1');
      while (this.step < this.steps.length && this.received.length >= this.consumed + this.steps[this.step].length) {
        this.consumed += this.steps[this.step].length;
        const r = this.replies[this.step++];
        if (r === undefined) continue;
        const reply = typeof r === 'string' ? { data: r } : r;
        s.write(Buffer.from(reply.data, 'latin1'));
        if (reply.end) s.end();
        if (reply.destroy) setTimeout(() => s.destroy(), 20);
      }
    });
    s.on('error', () => {});
    s.on('close', () => {
      this.sockets.delete(s);
      this.closedByPeer++;
    });
  }
}

/** A raw client connection that records what it gets and whether the server closed. */
export class RawClient {
  got = '';
  closed = false;
  private constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => (this.got += c.toString('latin1')));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }

  static async connect(port: number): Promise<RawClient> {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawClient(socket);
  }

  write(s: string | Buffer): void {
    this.socket.write(typeof s === 'string' ? Buffer.from(s, 'latin1') : s);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Polls until cond() holds; throws after timeoutMs (generous: the machine is shared). */
export async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
