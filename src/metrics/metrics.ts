import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What the gateway's own state looks like right now, read at each scrape (see snapshot.ts). */
export interface Snapshot {
  /** Unfinished tasks per model and status. */
  unfinished: { model: string; status: string; tasks: number }[];
  /** Tasks whose next step is due, and how long the oldest has waited (seconds), per lane. */
  due: { lane: 'local' | 'upstream'; tasks: number; oldestSeconds: number }[];
  /** Each upstream channel's breaker. */
  breakers: { channel: string; state: 'closed' | 'half-open' | 'open' }[];
  /** Bytes of kept videos. */
  storageBytes: number;
  webhooksPending: number;
  webhooksOldestDueSeconds: number;
  /** Micro-dollars held by unfinished tasks, and captured by finished ones, in all. */
  moneyHeld: number;
  moneyCaptured: number;
}

const BREAKER_STATES = ['closed', 'half-open', 'open'] as const;

/**
 * Every series vidgate exposes on GET /metrics (Prometheus, prom-client). Counters and
 * histograms count what this process did; the gauges are read from the database at
 * each scrape, so they are the same whichever process is asked.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'vidgate_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'vidgate_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method and route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });
  readonly tasksCreated = new Counter({
    name: 'vidgate_tasks_created_total',
    help: 'Tasks created, by model',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  readonly tasksEnded = new Counter({
    name: 'vidgate_tasks_ended_total',
    help: 'Tasks that ended, by model and how (completed, failed, cancelled)',
    labelNames: ['model', 'status'] as const,
    registers: [this.registry],
  });
  readonly upstreamCalls = new Counter({
    name: 'vidgate_upstream_calls_total',
    help: 'Calls to upstream channels, by channel, call (submit, check) and outcome (ok, error)',
    labelNames: ['channel', 'call', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly upstreamDuration = new Histogram({
    name: 'vidgate_upstream_call_duration_seconds',
    help: 'Time an upstream call took, by channel and call',
    labelNames: ['channel', 'call'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly trackingLag = new Histogram({
    name: 'vidgate_tracking_lag_seconds',
    help: 'How late an upstream task\'s step (submit or check) began after it was due',
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly renderDuration = new Histogram({
    name: 'vidgate_render_duration_seconds',
    help: 'Time the preview renderer took to make a video, by model',
    labelNames: ['model'] as const,
    buckets: [0.5, 1, 2, 5, 10, 20, 40, 80],
    registers: [this.registry],
  });
  readonly webhookDeliveries = new Counter({
    name: 'vidgate_webhook_deliveries_total',
    help: 'Webhook delivery attempts, by outcome: delivered, retry (failed, tried again later), failed (given up)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  private readonly unfinished = this.gauge('vidgate_tasks_unfinished', 'Tasks queued or running now, by model and status', ['model', 'status']);
  private readonly queueDepth = this.gauge('vidgate_queue_due_tasks', 'Tasks whose next step is due now, by lane (local renders, upstream steps)', ['lane']);
  private readonly queueOldest = this.gauge('vidgate_queue_oldest_due_seconds', 'How long the longest-waiting due task has waited, by lane', ['lane']);
  private readonly breaker = this.gauge('vidgate_channel_breaker_state', 'Each channel\'s circuit breaker: 1 for its current state (closed, half-open, open)', ['channel', 'state']);
  private readonly storageBytes = this.gauge('vidgate_storage_bytes', 'Bytes of finished videos kept in storage');
  private readonly webhooksPending = this.gauge('vidgate_webhook_deliveries_pending', 'Webhook deliveries waiting to be sent (first attempt or retry)');
  private readonly webhooksOldest = this.gauge('vidgate_webhook_oldest_due_seconds', 'How long the longest-waiting due webhook delivery has waited');
  private readonly moneyHeld = this.gauge('vidgate_money_held_micros', 'Micro-dollars held on balances by unfinished tasks');
  private readonly moneyCaptured = this.gauge('vidgate_money_captured_micros', 'Micro-dollars billed for finished tasks, in all');

  constructor(
    private readonly snapshot: () => Promise<Snapshot>,
    /** The catalog's models: each has its unfinished series, at 0 when it has none. */
    private readonly models: readonly string[] = [],
  ) {
    collectDefaultMetrics({ register: this.registry, prefix: 'vidgate_' });
  }

  /**
   * One answered request. The series of each method, route and status are looked up once
   * and kept: finding them by their labels on every request cost the poll path a few
   * percent (bench). Routes are patterns and statuses few, so the map stays small.
   */
  request(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let series = this.requestSeries.get(key);
    if (series === undefined) {
      series = { count: this.httpRequests.labels({ method, route, status }), time: this.httpDuration.labels({ method, route }) };
      this.requestSeries.set(key, series);
    }
    series.count.inc();
    series.time.observe(seconds);
  }

  private readonly requestSeries = new Map<string, { count: { inc(): void }; time: { observe(value: number): void } }>();

  private gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  /** The exposition text, with the gauges read afresh. */
  async render(): Promise<string> {
    const now = await this.snapshot();
    this.unfinished.reset();
    // A series that vanished at 0 would read as "no data", not as nothing unfinished.
    for (const model of this.models) for (const status of ['queued', 'in_progress']) this.unfinished.set({ model, status }, 0);
    for (const { model, status, tasks } of now.unfinished) this.unfinished.set({ model, status }, tasks);
    for (const lane of ['local', 'upstream'] as const) {
      const due = now.due.find((entry) => entry.lane === lane);
      this.queueDepth.set({ lane }, due?.tasks ?? 0);
      this.queueOldest.set({ lane }, due?.oldestSeconds ?? 0);
    }
    this.breaker.reset();
    for (const { channel, state } of now.breakers) for (const one of BREAKER_STATES) this.breaker.set({ channel, state: one }, one === state ? 1 : 0);
    this.storageBytes.set(now.storageBytes);
    this.webhooksPending.set(now.webhooksPending);
    this.webhooksOldest.set(now.webhooksOldestDueSeconds);
    this.moneyHeld.set(now.moneyHeld);
    this.moneyCaptured.set(now.moneyCaptured);
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
