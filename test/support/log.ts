/** A logger (lib/log.ts) whose JSON lines a test reads back, parsed. */
import { createLogger, type Logger } from '../../lib/log.js';

interface CapturedLog {
  log: Logger;
  lines: Array<Record<string, unknown>>;
  /** Lines whose msg contains `text`. */
  find(text: string): Array<Record<string, unknown>>;
}

export function captureLog(): CapturedLog {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ level: 'debug', write: (line) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines, find: (text) => lines.filter((l) => String(l.msg).includes(text)) };
}

export type LogLine = Record<string, any>;

/**
 * A process's stderr as log lines: every complete line must be one JSON object of the format
 * (time, level, component, msg); anything else throws, naming the line.
 */
export function parseLogLines(text: string): LogLine[] {
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  return complete
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      let line: LogLine;
      try {
        line = JSON.parse(l) as LogLine;
      } catch {
        throw new Error(`not a JSON log line: ${l.slice(0, 300)}`);
      }
      const ok =
        typeof line.time === 'string' &&
        new Date(line.time).toISOString() === line.time &&
        ['debug', 'info', 'warn', 'error'].includes(line.level) &&
        typeof line.component === 'string' &&
        typeof line.msg === 'string';
      if (!ok) throw new Error(`log line without time, level, component or msg: ${l.slice(0, 300)}`);
      return line;
    });
}
