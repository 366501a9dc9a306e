/**
 * A server's request workers, the way capacity is limited in a real chat server: a fixed number of
 * slots, a FIFO backlog in front of them, and a downstream dependency whose latency grows with the
 * number of busy workers (service time = base × (1 + loadFactor × busy / workers)). Work is
 * simulated with timers, so a saturated pool costs wall-clock time, not CPU.
 */
export interface WorkerPoolOptions {
  /** Slots; each admitted job holds one for its whole service time. */
  workers: number;
  /** How much the dependency slows down when every worker is busy (0: not at all, 1: 2×). */
  loadFactor: number;
  /** Jobs waiting beyond this many are refused (a full accept backlog). */
  maxBacklog: number;
}

export interface WorkerPoolStats {
  workers: number;
  busy: number;
  backlog: number;
  /** Highest backlog seen since start. */
  maxBacklogSeen: number;
  completed: number;
  refused: number;
}

interface Job {
  baseMs: number;
  done: () => void;
}

export class WorkerPool {
  private workers: number;
  private readonly loadFactor: number;
  private readonly maxBacklog: number;
  private busy = 0;
  private backlog: Job[] = [];
  private head = 0;
  private maxBacklogSeen = 0;
  private completed = 0;
  private refused = 0;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(opts: WorkerPoolOptions) {
    if (opts.workers < 1) throw new Error('workers must be at least 1');
    this.workers = opts.workers;
    this.loadFactor = opts.loadFactor;
    this.maxBacklog = opts.maxBacklog;
  }

  /** Runs `done` once the job has had a worker for its service time; false if the backlog is full. */
  submit(baseMs: number, done: () => void): boolean {
    const job = { baseMs, done };
    if (this.busy < this.workers && this.backlogLength() === 0) {
      this.start(job);
      return true;
    }
    if (this.backlogLength() >= this.maxBacklog) {
      this.refused++;
      return false;
    }
    this.backlog.push(job);
    this.maxBacklogSeen = Math.max(this.maxBacklogSeen, this.backlogLength());
    return true;
  }

  /** Grows take effect at once; shrinks as busy workers finish. */
  setWorkers(n: number): void {
    if (!Number.isInteger(n) || n < 1) throw new Error('workers must be an integer ≥ 1');
    this.workers = n;
    this.drain();
  }

  stats(): WorkerPoolStats {
    return {
      workers: this.workers,
      busy: this.busy,
      backlog: this.backlogLength(),
      maxBacklogSeen: this.maxBacklogSeen,
      completed: this.completed,
      refused: this.refused,
    };
  }

  /** Drops queued work and cancels running jobs without calling them back (for shutdown). */
  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.backlog = [];
    this.head = 0;
    this.busy = 0;
  }

  private backlogLength(): number {
    return this.backlog.length - this.head;
  }

  private start(job: Job): void {
    this.busy++;
    const ms = job.baseMs * (1 + (this.loadFactor * this.busy) / this.workers);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.busy--;
      this.completed++;
      job.done();
      this.drain();
    }, ms);
    this.timers.add(timer);
  }

  private drain(): void {
    while (this.busy < this.workers && this.backlogLength() > 0) {
      const job = this.backlog[this.head++];
      if (this.head > 1024 && this.head * 2 > this.backlog.length) {
        this.backlog = this.backlog.slice(this.head);
        this.head = 0;
      }
      this.start(job);
    }
  }
}
