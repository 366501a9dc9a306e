/**
 * The one module that imports kafkajs: a producer that only reports success once every in-sync
 * replica has the record (acks=all) within a bounded time, and a group consumer that hands
 * whole fetched batches to the caller, who resolves offsets itself (so an offset is committed
 * only after its record was handled). kafkajs logs go to our logger at WARN and above.
 *
 * Not used, on purpose: the idempotent producer and transactions. Replays are made idempotent by
 * the egress's dedup in Redis (Baemin's lesson: hanging Kafka transactions caused their largest
 * outage), and librdkafka's mock cluster, the test broker, does not support CreateTopics, so
 * topics are created by Kafka's auto-creation or by the operators of the cluster.
 */
import { Kafka, Partitioners, logLevel, type Consumer, type IHeaders, type LogEntry, type Producer, type RetryOptions } from 'kafkajs';
import type { Logger } from '../../lib/log.js';

/** The part of the sidecar's logger (`lib/log.ts`) this module needs. */
export type Log = Pick<Logger, 'info' | 'warn' | 'error'>;

export interface OutRecord {
  key: string | null;
  value: Buffer;
  headers: Record<string, string>;
}

export interface InRecord extends OutRecord {
  offset: string;
}

export interface KafkaOptions {
  brokers: string[];
  clientId: string;
  log: Log;
  /** Bound on one produce (connect, ack from all in-sync replicas, one quick retry). Default 2000. */
  produceTimeoutMs?: number;
  /**
   * Consumer group session timeout. Default 10000 (Kafka's long-time default): a replay must
   * finish well within it. librdkafka's mock cluster ignores LeaveGroup for rebalancing, so a
   * restarted consumer waits this long there; tests use the broker minimum, 6000.
   */
  sessionTimeoutMs?: number;
}

/** What a batch handler may do with the batch's partition. */
export interface BatchControl {
  /** False once the consumer is stopping or the partition was reassigned: stop handling. */
  active(): boolean;
  /** This offset was handled; it is committed with the next batch commit. */
  resolve(offset: string): void;
  heartbeat(): Promise<void>;
  /** Stops fetching this partition; unresolved records are fetched again after the returned resume(). */
  pause(): () => void;
  commitIfDue(): Promise<void>;
}

export type BatchHandler = (topic: string, partition: number, records: InRecord[], ctl: BatchControl) => Promise<void>;

export interface GroupConsumer {
  /** Joins the group, subscribes to `topics` from their beginning and starts handing batches over. */
  start(topics: string[], onBatch: BatchHandler): Promise<void>;
  /** Called when kafkajs gives up on the consumer for good (it restarts it itself on retriable errors). */
  onFatal(listener: (err: Error) => void): void;
  close(): Promise<void>;
}

export interface KafkaProducer {
  /** Resolves once every record is stored with acks=all; rejects on any failure or after the bound. */
  send(topic: string, records: OutRecord[]): Promise<void>;
  close(): Promise<void>;
}

export interface KafkaLink {
  producer(): KafkaProducer;
  consumer(groupId: string): GroupConsumer;
}

const LEVEL_NAMES: Partial<Record<logLevel, 'error' | 'warn' | 'info'>> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
};

export function createKafkaLink(opts: KafkaOptions): KafkaLink {
  const produceTimeoutMs = opts.produceTimeoutMs ?? 2000;
  const toLog = (entry: LogEntry): void => {
    const level = LEVEL_NAMES[entry.level];
    if (!level) return;
    // kafkajs hands over an error as its message and stack strings: keep our `err` shape.
    const { message, timestamp: _t, error, stack, ...fields } = entry.log;
    const err = typeof error === 'string' ? { type: 'KafkaJSError', message: error, ...(typeof stack === 'string' ? { stack } : {}) } : undefined;
    opts.log[level](`kafka: ${message}`, { ...fields, namespace: entry.namespace, ...(err ? { err } : {}) });
  };
  const client = (level: logLevel, logEntry: (entry: LogEntry) => void, retry?: RetryOptions): Kafka =>
    new Kafka({
      brokers: opts.brokers,
      clientId: opts.clientId,
      connectionTimeout: Math.min(1000, produceTimeoutMs),
      requestTimeout: Math.max(produceTimeoutMs, 1000),
      retry,
      logLevel: level,
      logCreator: () => logEntry,
    });
  return {
    // The producer's own client retries briefly (connects and metadata included): a send the
    // caller was told failed must not keep trying in the background and land much later.
    producer: () => boundedProducer(client(logLevel.WARN, toLog, PRODUCE_RETRY), produceTimeoutMs),
    consumer: (groupId) => groupConsumer(client(logLevel.DEBUG, consumerLog(toLog)), groupId, opts.sessionTimeoutMs ?? 10_000),
  };
}

/**
 * Works around a kafkajs 2.2.4 bug: when the broker set changes (an outage) while the consumer
 * stops, its fetch manager "rebalances" onto new fetchers after the stop, and those loop forever
 * on the runner's immediate "not running" answer, a microtask spin that starves the event loop
 * (so disconnect() never returns and the whole process freezes). The runner announces that
 * answer with a debug log line just before returning it; throwing there ends the fetcher, and
 * kafkajs then winds the runner down normally (it no longer runs, so it does not retry).
 */
function consumerLog(toLog: (entry: LogEntry) => void): (entry: LogEntry) => void {
  return (entry) => {
    if (entry.level === logLevel.DEBUG) {
      if (entry.namespace === 'Runner' && entry.log.message === 'consumer not running, exiting') {
        throw new Error('kafka consumer stopped');
      }
      return;
    }
    toLog(entry);
  };
}

const PRODUCE_RETRY: RetryOptions = { retries: 1, initialRetryTime: 100, maxRetryTime: 500 };

function boundedProducer(kafka: Kafka, timeoutMs: number): KafkaProducer {
  let producer: Producer | null = null;
  let connecting: Promise<Producer> | null = null;
  let closed = false;

  // Connect lazily and again after a failed connect, so a broker outage at start heals.
  const connected = (): Promise<Producer> => {
    if (producer) return Promise.resolve(producer);
    connecting ??= (async () => {
      const p = kafka.producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: PRODUCE_RETRY,
      });
      try {
        await p.connect();
      } catch (err) {
        await p.disconnect().catch(() => undefined);
        throw err;
      }
      if (closed) {
        await p.disconnect();
        throw new Error('kafka producer closed');
      }
      producer = p;
      return p;
    })().finally(() => {
      connecting = null;
    });
    return connecting;
  };

  // Sends made in the same turn of the event loop go out as one produce per broker: under a
  // storm thousands of defers a second arrive, far more than one request each could carry.
  // The batch succeeds or fails as a whole (kafkajs reports it so), so every send in it gets
  // the same answer.
  let queue: Array<{ topic: string; records: OutRecord[]; done: (err?: unknown) => void }> = [];
  let queued = 0;
  let scheduled = false;
  const inFlight = new Set<Promise<void>>();

  const flush = (): void => {
    scheduled = false;
    const batch = queue;
    queue = [];
    queued = 0;
    if (batch.length === 0) return;
    const byTopic = new Map<string, OutRecord[]>();
    for (const b of batch) {
      const list = byTopic.get(b.topic);
      if (list) list.push(...b.records);
      else byTopic.set(b.topic, [...b.records]);
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`kafka: not stored within ${timeoutMs} ms`)), timeoutMs);
    });
    const stored = (async () => {
      const p = await connected();
      await p.sendBatch({
        acks: -1,
        timeout: timeoutMs,
        topicMessages: [...byTopic].map(([topic, records]) => ({
          topic,
          messages: records.map((r) => ({ key: r.key, value: r.value, headers: r.headers })),
        })),
      });
    })();
    stored.catch(() => undefined); // a late failure after the deadline is already reported
    const settled = Promise.race([stored, deadline]).then(
      () => batch.forEach((b) => b.done()),
      (err: unknown) => batch.forEach((b) => b.done(err)),
    );
    const tracked = settled.finally(() => {
      clearTimeout(timer);
      inFlight.delete(tracked);
    });
    inFlight.add(tracked);
  };

  return {
    send(topic, records) {
      if (closed) return Promise.reject(new Error('kafka producer closed'));
      return new Promise<void>((resolve, reject) => {
        queue.push({ topic, records, done: (err) => (err === undefined ? resolve() : reject(err instanceof Error ? err : new Error(String(err)))) });
        queued += records.length;
        if (queued >= MAX_BATCH_RECORDS) flush();
        else if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
    async close() {
      closed = true;
      flush();
      await Promise.all(inFlight);
      const p = producer ?? (await connecting?.catch(() => null)) ?? null;
      producer = null;
      await p?.disconnect();
    },
  };
}

/** Records in one produce batch at most (bodies are at most 1 MiB each, usually far less). */
const MAX_BATCH_RECORDS = 500;

function groupConsumer(kafka: Kafka, groupId: string, sessionTimeout: number): GroupConsumer {
  const consumer: Consumer = kafka.consumer({
    groupId,
    // Short fetch waits so pause, resume and close take effect quickly.
    maxWaitTimeInMs: 500,
    maxBytesPerPartition: 256 * 1024,
    sessionTimeout,
    heartbeatInterval: Math.min(3000, Math.floor(sessionTimeout / 3)),
  });
  const fatal: Array<(err: Error) => void> = [];
  consumer.on(consumer.events.CRASH, (event) => {
    if (!event.payload.restart) for (const l of fatal) l(event.payload.error);
  });
  return {
    async start(topics, onBatch) {
      await consumer.connect();
      await consumer.subscribe({ topics, fromBeginning: true });
      await consumer.run({
        autoCommit: true,
        autoCommitInterval: 1000,
        autoCommitThreshold: 20,
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset, heartbeat, pause, commitOffsetsIfNecessary, isRunning, isStale }) => {
          const records = batch.messages.map((m) => ({
            offset: m.offset,
            key: m.key ? m.key.toString('utf8') : null,
            value: m.value ?? Buffer.alloc(0),
            headers: headerStrings(m.headers),
          }));
          await onBatch(batch.topic, batch.partition, records, {
            active: () => isRunning() && !isStale(),
            resolve: resolveOffset,
            heartbeat,
            pause,
            commitIfDue: () => commitOffsetsIfNecessary(),
          });
        },
      });
    },
    onFatal(listener) {
      fatal.push(listener);
    },
    close: () => consumer.disconnect(),
  };
}

function headerStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const v = Array.isArray(value) ? value[0] : value;
    if (v !== undefined) out[name] = v.toString();
  }
  return out;
}
