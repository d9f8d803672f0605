// The inference server's metrics in Prometheus's text format: counters of
// requests (by endpoint and status), texts and tokens, and histograms of the
// batches' sizes, the time texts wait in the queue and the requests'
// latency. Plain counters: nothing here allocates per request beyond a map
// entry per label set.

type Labels = Readonly<Record<string, string>>;

const labelText = (labels: Labels) => {
  const entries = Object.entries(labels);
  return entries.length ? `{${entries.map(([k, v]) => `${k}="${v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`).join(',')}}` : '';
};

class Counter {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(readonly name: string, readonly help: string) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const entry = this.values.get(key) ?? { labels, value: 0 };
    entry.value += by;
    this.values.set(key, entry);
  }

  value(labels: Labels = {}): number {
    return this.values.get(labelText(labels))?.value ?? 0;
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${value}`);
    if (!this.values.size) lines.push(`${this.name} 0`);
    return lines;
  }
}

class Gauge {
  constructor(readonly name: string, readonly help: string, private readonly read: () => number) {}

  render(): string[] {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${this.read()}`];
  }
}

class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(readonly name: string, readonly help: string, private readonly buckets: readonly number[]) {
    this.counts = new Array<number>(buckets.length).fill(0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    for (let b = 0; b < this.buckets.length; b++) if (value <= this.buckets[b]!) this.counts[b]!++;
  }

  render(): string[] {
    return [
      `# HELP ${this.name} ${this.help}`,
      `# TYPE ${this.name} histogram`,
      ...this.buckets.map((le, b) => `${this.name}_bucket{le="${le}"} ${this.counts[b]}`),
      `${this.name}_bucket{le="+Inf"} ${this.count}`,
      `${this.name}_sum ${this.sum}`,
      `${this.name}_count ${this.count}`,
    ];
  }
}

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const powersOfTwo = (top: number) => Array.from({ length: Math.ceil(Math.log2(top)) + 1 }, (_, k) => 2 ** k);

export class ServerMetrics {
  readonly requests = new Counter('tcc_requests_total', 'HTTP requests answered, by endpoint and status code.');
  readonly texts = new Counter('tcc_texts_total', 'Texts run through the model.');
  readonly tokens = new Counter('tcc_tokens_total', 'Tokens of the texts run (special tokens included, padding not).');
  readonly batches = new Counter('tcc_batches_total', 'Forward passes run.');
  readonly batchTexts: Histogram;
  readonly batchTokens: Histogram;
  readonly queueSeconds = new Histogram('tcc_queue_seconds', 'Time a text waited in the queue before its batch ran.', SECONDS);
  readonly requestSeconds = new Histogram('tcc_request_seconds', 'Time from a request read whole to its answer.', SECONDS);
  private readonly gauges: Gauge[];

  constructor(maxBatch: number, maxTokens: number, queued: () => number) {
    this.batchTexts = new Histogram('tcc_batch_texts', 'Texts per forward pass.', powersOfTwo(maxBatch));
    this.batchTokens = new Histogram('tcc_batch_tokens', 'Tokens per forward pass (padding not counted).', powersOfTwo(maxTokens));
    this.gauges = [new Gauge('tcc_queue_texts', 'Texts waiting in the queue now.', queued)];
  }

  render(): string {
    const all = [this.requests, this.texts, this.tokens, this.batches, this.batchTexts, this.batchTokens, this.queueSeconds, this.requestSeconds, ...this.gauges];
    return all.flatMap((m) => m.render()).join('\n') + '\n';
  }
}
