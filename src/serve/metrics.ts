// The server's metrics in Prometheus's text exposition format (version 0.0.4): counters, gauges read
// when scraped, and histograms with cumulative buckets, `_sum` and `_count`, as a Prometheus client
// library writes them. Written by hand: the format is a few lines of text per metric.

type Labels = Record<string, string>;

const key = (labels: Labels): string =>
  Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');

abstract class Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
  ) {}
  abstract lines(): string[];
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`, ...this.lines()].join('\n');
  }
}

export class Counter extends Metric {
  #values = new Map<string, number>();
  constructor(name: string, help: string) {
    super(name, help, 'counter');
  }
  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels);
    this.#values.set(k, (this.#values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.#values.get(key(labels)) ?? 0;
  }
  lines(): string[] {
    if (this.#values.size === 0) return [`${this.name} 0`];
    return [...this.#values].map(([k, v]) => `${this.name}${k ? `{${k}}` : ''} ${v}`);
  }
}

export class Gauge extends Metric {
  constructor(
    name: string,
    help: string,
    readonly read: () => number,
  ) {
    super(name, help, 'gauge');
  }
  lines(): string[] {
    return [`${this.name} ${this.read()}`];
  }
}

export class Histogram extends Metric {
  readonly buckets: number[];
  #counts: number[];
  #sum = 0;
  #count = 0;
  constructor(name: string, help: string, buckets: number[]) {
    super(name, help, 'histogram');
    this.buckets = [...buckets].sort((a, b) => a - b);
    this.#counts = this.buckets.map(() => 0);
  }
  observe(v: number): void {
    this.#sum += v;
    this.#count++;
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) this.#counts[i]!++;
  }
  get count(): number {
    return this.#count;
  }
  lines(): string[] {
    return [
      ...this.buckets.map((b, i) => `${this.name}_bucket{le="${b}"} ${this.#counts[i]}`),
      `${this.name}_bucket{le="+Inf"} ${this.#count}`,
      `${this.name}_sum ${this.#sum}`,
      `${this.name}_count ${this.#count}`,
    ];
  }
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Everything /metrics reports. */
export class ServerMetrics {
  readonly requests = new Counter('mox_requests_total', 'HTTP requests by endpoint and status code');
  readonly promptTokens = new Counter('mox_prompt_tokens_total', 'Prompt tokens processed');
  readonly generatedTokens = new Counter('mox_generation_tokens_total', 'Tokens generated');
  readonly timeToFirstToken = new Histogram(
    'mox_time_to_first_token_seconds',
    'Time from a request to its first generated token',
    LATENCY_BUCKETS,
  );
  readonly interTokenLatency = new Histogram(
    'mox_inter_token_latency_seconds',
    'Time between consecutive generated tokens of a request',
    LATENCY_BUCKETS,
  );
  readonly #all: Metric[];

  constructor(queueDepth: () => number, active: () => number) {
    this.#all = [
      this.requests,
      this.promptTokens,
      this.generatedTokens,
      this.timeToFirstToken,
      this.interTokenLatency,
      new Gauge('mox_queue_depth', 'Requests waiting for a decoding slot', queueDepth),
      new Gauge('mox_active_sequences', 'Sequences in the running batch', active),
      new Gauge('mox_resident_memory_bytes', 'Resident set size of the server process', () => process.memoryUsage().rss),
      new Gauge('mox_heap_used_bytes', 'JavaScript heap in use', () => process.memoryUsage().heapUsed),
    ];
  }

  render(): string {
    return `${this.#all.map((m) => m.render()).join('\n')}\n`;
  }
}
