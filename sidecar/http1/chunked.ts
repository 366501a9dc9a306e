/**
 * A strict chunked-coding scanner (RFC 9112 §7.1). It validates the framing as bytes pass and
 * says where the message ends; the proxy forwards the validated bytes as they came (no
 * re-framing, no copy), or, for an HTTP/1.0 client, takes the data ranges only. Refused: a size
 * that is not hex, overflows 2^52 or has whitespace not followed by an extension, extension bytes
 * outside field-vchar/SP/HTAB, a CR not followed by LF, data not followed by CRLF, malformed or
 * oversized trailer fields.
 */
import { COLON, CR, FIELD_VALUE, HEX, HTAB, LF, SP, TOKEN } from './chars.js';

const S_SIZE_FIRST = 0;
const S_SIZE = 1;
const S_SIZE_WS = 2;
const S_EXT = 3;
const S_SIZE_LF = 4;
const S_DATA = 5;
const S_DATA_CR = 6;
const S_DATA_LF = 7;
const S_TRAILER_START = 8;
const S_TRAILER_NAME = 9;
const S_TRAILER_VALUE = 10;
const S_TRAILER_LF = 11;
const S_END_LF = 12;
const S_DONE = 13;

/** Chunk sizes stay below 2^52: a larger one cannot be counted exactly in a double. */
const SIZE_LIMIT = 2 ** 48;
/** Longest chunk-size line (size plus extensions). */
const MAX_SIZE_LINE = 4096;

/** Receives the data ranges when the decoder is asked to take them out (HTTP/1.0 clients). */
export interface ChunkDataSink {
  chunkData(b: Buffer, s: number, e: number): void;
}

export class ChunkedDecoder {
  private state = S_SIZE_FIRST;
  private remaining = 0;
  private lineBytes = 0;
  private trailerBytes = 0;

  constructor(
    private readonly maxTrailerBytes: number,
    private sink: ChunkDataSink | null = null,
  ) {}

  get done(): boolean {
    return this.state === S_DONE;
  }

  reset(sink: ChunkDataSink | null): void {
    this.state = S_SIZE_FIRST;
    this.remaining = this.lineBytes = this.trailerBytes = 0;
    this.sink = sink;
  }

  /**
   * Scans b[s, e). Returns the index just after the message's last byte once it is complete
   * (then `done`), e when more is needed, or -1 when the framing is invalid.
   */
  feed(b: Buffer, s: number, e: number): number {
    let i = s;
    let state = this.state;
    while (i < e) {
      const c = b[i];
      switch (state) {
        case S_SIZE_FIRST:
        case S_SIZE: {
          const d = HEX[c];
          if (d >= 0) {
            if (this.remaining >= SIZE_LIMIT || ++this.lineBytes > MAX_SIZE_LINE) return -1;
            this.remaining = this.remaining * 16 + d;
            state = S_SIZE;
          } else if (state === S_SIZE_FIRST) return -1;
          else if (c === CR) state = S_SIZE_LF;
          else if (c === 0x3b) state = S_EXT;
          else if (c === SP || c === HTAB) state = S_SIZE_WS;
          else return -1;
          i++;
          break;
        }
        case S_SIZE_WS:
          // BWS is allowed only before an extension.
          if (c === 0x3b) state = S_EXT;
          else if (c !== SP && c !== HTAB) return -1;
          if (++this.lineBytes > MAX_SIZE_LINE) return -1;
          i++;
          break;
        case S_EXT:
          if (c === CR) state = S_SIZE_LF;
          else if (FIELD_VALUE[c] !== 1 || ++this.lineBytes > MAX_SIZE_LINE) return -1;
          i++;
          break;
        case S_SIZE_LF:
          if (c !== LF) return -1;
          i++;
          this.lineBytes = 0;
          state = this.remaining === 0 ? S_TRAILER_START : S_DATA;
          break;
        case S_DATA: {
          const n = Math.min(this.remaining, e - i);
          if (this.sink !== null) this.sink.chunkData(b, i, i + n);
          i += n;
          this.remaining -= n;
          if (this.remaining === 0) state = S_DATA_CR;
          break;
        }
        case S_DATA_CR:
          if (c !== CR) return -1;
          state = S_DATA_LF;
          i++;
          break;
        case S_DATA_LF:
          if (c !== LF) return -1;
          state = S_SIZE_FIRST;
          i++;
          break;
        case S_TRAILER_START:
          if (c === CR) state = S_END_LF;
          else if (TOKEN[c] === 1) state = S_TRAILER_NAME;
          else return -1;
          if (++this.trailerBytes > this.maxTrailerBytes) return -1;
          i++;
          break;
        case S_TRAILER_NAME:
          if (c === COLON) state = S_TRAILER_VALUE;
          else if (TOKEN[c] !== 1) return -1;
          if (++this.trailerBytes > this.maxTrailerBytes) return -1;
          i++;
          break;
        case S_TRAILER_VALUE:
          if (c === CR) state = S_TRAILER_LF;
          else if (FIELD_VALUE[c] !== 1) return -1;
          if (++this.trailerBytes > this.maxTrailerBytes) return -1;
          i++;
          break;
        case S_TRAILER_LF:
          if (c !== LF) return -1;
          state = S_TRAILER_START;
          i++;
          break;
        case S_END_LF:
          if (c !== LF) return -1;
          this.state = S_DONE;
          return i + 1;
        default:
          return -1;
      }
    }
    this.state = state;
    return e;
  }
}
