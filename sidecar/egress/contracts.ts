/**
 * The seam between the egress (send path, failover, dedup) and deferral to Kafka: the egress
 * hands a shed send to a Deferrer, and the Deferrer's drainer hands it back through replay().
 */

/** A send that was shed and must be stored, then replayed later through failover and dedup. */
export interface DeferredSend {
  route: string;
  method: string;
  /** The path after the route segment, with its query string, e.g. "/v1/send?x=1". */
  path: string;
  /** Lower-case names; hop-by-hop headers removed. */
  headers: Record<string, string>;
  body: Buffer;
  /** The idempotency key (the dedup header's value), or "" when the request carried none. */
  key: string;
  /** When the egress first saw the send (epoch ms): the base of `maxAgeSeconds`. */
  firstSeenMs: number;
  /** Replays tried so far. */
  attempts: number;
}

/** What a replay of a deferred send came to. */
export type ReplayOutcome = 'delivered' | 'retry' | 'failed';

export interface Deferrer {
  /** Resolves only once Kafka has stored the send (acks=all); rejects otherwise. */
  defer(send: DeferredSend): Promise<void>;
  /**
   * Starts the consumer that replays deferred sends through `replay` while `canDrain()` is true
   * (the load level is back to 0).
   */
  startDrainer(replay: (send: DeferredSend) => Promise<ReplayOutcome>, canDrain: () => boolean): void;
  close(): Promise<void>;
}
