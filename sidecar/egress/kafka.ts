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
import type { Logger } from '../log.js';

/** The part of the sidecar's logger (`sidecar/log.ts`) this module needs. */
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
  const client = (retry?: RetryOptions): Kafka =>
    new Kafka({
      brokers: opts.brokers,
      clientId: opts.clientId,
      connectionTimeout: Math.min(1000, produceTimeoutMs),
      requestTimeout: Math.max(produceTimeoutMs, 1000),
      retry,
      logLevel: logLevel.WARN,
      logCreator: () => (entry: LogEntry) => {
        const level = LEVEL_NAMES[entry.level];
        if (!level) return;
        const { message, timestamp: _t, ...fields } = entry.log;
        opts.log[level](`kafka: ${message}`, { ...fields, namespace: entry.namespace });
      },
    });
  return {
    // The producer's own client retries briefly (connects and metadata included): a send the
    // caller was told failed must not keep trying in the background and land much later.
    producer: () => boundedProducer(client(PRODUCE_RETRY), produceTimeoutMs),
    consumer: (groupId) => groupConsumer(client(), groupId, opts.sessionTimeoutMs ?? 10_000),
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

  return {
    async send(topic, records) {
      if (closed) throw new Error('kafka producer closed');
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`kafka: not stored within ${timeoutMs} ms`)), timeoutMs);
      });
      const stored = (async () => {
        const p = await connected();
        await p.send({
          topic,
          acks: -1,
          timeout: timeoutMs,
          messages: records.map((r) => ({ key: r.key, value: r.value, headers: r.headers })),
        });
      })();
      stored.catch(() => undefined); // a late failure after the deadline is already reported
      try {
        await Promise.race([stored, deadline]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      closed = true;
      const p = producer ?? (await connecting?.catch(() => null)) ?? null;
      producer = null;
      await p?.disconnect();
    },
  };
}

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
