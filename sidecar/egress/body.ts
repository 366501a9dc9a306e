/**
 * A request body kept in memory (for a retry on another vendor, or for deferral), up to a
 * limit: fed the bytes as the engine hands them (framing as the caller sent it, already
 * validated by the engine), it keeps the data only.
 */
import { ChunkedDecoder, type ChunkDataSink } from '../http1/chunked.js';

/** Trailer bytes accepted at the end of a chunked body (the engine's default head limit). */
const MAX_TRAILER = 16 * 1024;

export class KeptBody implements ChunkDataSink {
  /** The body passed the limit: what came is dropped. */
  over = false;
  private size = 0;
  private readonly chunks: Buffer[] = [];
  private readonly decoder: ChunkedDecoder | null;

  constructor(
    chunked: boolean,
    private readonly max: number,
  ) {
    this.decoder = chunked ? new ChunkedDecoder(MAX_TRAILER, this) : null;
  }

  /** False once the body is over the limit. */
  add(b: Buffer): boolean {
    if (this.decoder === null) this.take(b);
    else this.decoder.feed(b, 0, b.length);
    return !this.over;
  }

  chunkData(b: Buffer, s: number, e: number): void {
    if (e > s) this.take(b.subarray(s, e));
  }

  get body(): Buffer {
    return this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size);
  }

  private take(b: Buffer): void {
    if (this.over) return;
    this.size += b.length;
    if (this.size > this.max) {
      this.over = true;
      this.chunks.length = 0;
      return;
    }
    this.chunks.push(b);
  }
}
