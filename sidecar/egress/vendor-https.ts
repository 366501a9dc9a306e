/**
 * An https:// vendor through node:https (TLS dominates the cost there, so the engine would buy
 * little), behind the same VendorCall interface as the engine's client: the answer is re-framed
 * for the caller (Content-Length kept, else chunked, or close-delimited for an HTTP/1.0 caller).
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { ChunkedDecoder, type ChunkDataSink } from '../http1/chunked.js';
import { clientResponseHeaders } from '../proxy-headers.js';
import { FRAME_CHUNKED, FRAME_LENGTH, FRAME_NONE, VendorEndpoint, type CompiledVendor, type VendorCall, type VendorListener, type VendorRequest } from './vendor-client.js';

const CRLF = '\r\n';
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
/** Trailer bytes accepted in a streamed chunked body (as the engine's server does for heads). */
const MAX_TRAILER = 16 * 1024;

const kCall = Symbol('spillway.https');
type Tagged<T> = T & { [kCall]: HttpsCall };

export class HttpsVendor extends VendorEndpoint {
  readonly agent = new https.Agent({ keepAlive: true, noDelay: true });
  /** TLS server name, computed here so the agent does not parse the Host header per request. */
  readonly servername: string;

  constructor(v: CompiledVendor, u: URL, now: () => number) {
    super(v, u, 443, now);
    this.servername = isIP(this.hostname) === 0 ? this.hostname : '';
  }

  start(req: VendorRequest, listener: VendorListener): VendorCall {
    return new HttpsCall(this, req, listener);
  }

  protected closeAll(): void {
    this.agent.destroy();
  }
}

class HttpsCall implements VendorCall, ChunkDataSink {
  readonly ready = true;
  closeDelimited = false;
  private readonly cr: ClientRequest;
  private res: IncomingMessage | null = null;
  /** The answer is sent to the caller chunked (the vendor's had no Content-Length). */
  private chunk = false;
  private aborted = false;
  /** Takes the data out of a chunked streamed body (node:https frames it again). */
  private readonly decoder: ChunkedDecoder | null;
  private lastWrite = true;

  constructor(
    vendor: HttpsVendor,
    private readonly req: VendorRequest,
    private readonly listener: VendorListener,
  ) {
    const f = req.fields.slice();
    f.push('host', vendor.host);
    if (req.body !== null) f.push('content-length', String(req.body.length));
    else if (req.stream === FRAME_LENGTH) f.push('content-length', String(req.streamLength));
    else if (req.stream === FRAME_CHUNKED) f.push('transfer-encoding', 'chunked');
    this.decoder = req.stream === FRAME_CHUNKED ? new ChunkedDecoder(MAX_TRAILER, this) : null;
    const cr = https.request({
      agent: vendor.agent,
      hostname: vendor.hostname,
      port: vendor.port,
      servername: vendor.servername,
      method: req.method,
      path: vendor.basePath + req.path,
      headers: f,
    });
    (cr as Tagged<ClientRequest>)[kCall] = this;
    cr.on('response', onResponse);
    cr.on('error', onError);
    cr.on('drain', onDrain);
    this.cr = cr;
    if (req.body !== null) cr.end(req.body);
    else if (req.stream === FRAME_NONE) cr.end();
  }

  clientHead(connection: string): Buffer {
    const res = this.res as IncomingMessage;
    const status = res.statusCode ?? 502;
    let s = `HTTP/1.1 ${status} ${res.statusMessage ?? ''}${CRLF}`;
    const h = clientResponseHeaders(res.rawHeaders);
    for (let i = 0; i < h.length; i += 2) s += `${h[i]}: ${h[i + 1]}${CRLF}`;
    if (this.chunk) s += `transfer-encoding: chunked${CRLF}`;
    return Buffer.from(s + connection + CRLF, 'latin1');
  }

  write(b: Buffer): boolean {
    if (this.decoder === null) return this.cr.write(b);
    this.lastWrite = true;
    this.decoder.feed(b, 0, b.length);
    return this.lastWrite;
  }

  chunkData(b: Buffer, s: number, e: number): void {
    if (e > s) this.lastWrite = this.cr.write(b.subarray(s, e));
  }

  end(): void {
    this.cr.end();
  }

  resume(): void {
    this.res?.resume();
  }

  abort(): void {
    this.aborted = true;
    this.cr.destroy();
  }

  responded(res: IncomingMessage): void {
    if (this.aborted) {
      res.resume();
      return;
    }
    this.res = res;
    const status = res.statusCode ?? 502;
    const bodyless = this.req.method === 'HEAD' || status === 204 || status === 304 || status < 200;
    if (!bodyless && res.headers['content-length'] === undefined) {
      if (this.req.dechunk) this.closeDelimited = true;
      else this.chunk = true;
    }
    (res as Tagged<IncomingMessage>)[kCall] = this;
    res.on('data', onData);
    res.on('end', onEnd);
    res.on('error', onError);
    res.on('aborted', onAborted);
    this.listener.vendorHead(status);
  }

  data(b: Buffer): void {
    if (this.aborted) return;
    const framed = this.chunk ? Buffer.concat([Buffer.from(b.length.toString(16) + CRLF, 'latin1'), b, Buffer.from(CRLF, 'latin1')]) : b;
    if (!this.listener.vendorBody(framed)) (this.res as IncomingMessage).pause();
  }

  ended(): void {
    if (this.aborted) return;
    this.aborted = true;
    if (this.chunk) this.listener.vendorBody(LAST_CHUNK);
    this.listener.vendorEnd();
  }

  failed(code: string | undefined): void {
    if (this.aborted) return;
    this.aborted = true;
    this.cr.destroy();
    this.listener.vendorFailed(code);
  }

  drained(): void {
    if (!this.aborted) this.listener.vendorDrain();
  }
}

function onResponse(this: Tagged<ClientRequest>, res: IncomingMessage): void {
  this[kCall].responded(res);
}
function onError(this: Tagged<ClientRequest | IncomingMessage>, err: NodeJS.ErrnoException): void {
  this[kCall].failed(err.code);
}
function onAborted(this: Tagged<IncomingMessage>): void {
  this[kCall].failed(undefined);
}
function onDrain(this: Tagged<ClientRequest>): void {
  this[kCall].drained();
}
function onData(this: Tagged<IncomingMessage>, b: Buffer): void {
  this[kCall].data(b);
}
function onEnd(this: Tagged<IncomingMessage>): void {
  this[kCall].ended();
}
