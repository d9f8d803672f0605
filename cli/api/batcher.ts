// Dynamic batching: texts wait in one bounded queue, in order of arrival,
// and go to the model together, as many as fit in a batch (its rows and its
// tokens) or as many as came within the wait bound of the oldest. One
// forward pass runs at a time; the next batch forms while it runs.

import type { Tensor } from '../../runtime/session.js';
import type { ServerMetrics } from './metrics.js';

/** One text, encoded: its rows of the program's inputs (a sequence's tokens, unpadded). */
export interface EncodedText {
  readonly input_ids: readonly number[];
  readonly token_type_ids: readonly number[];
  readonly attention_mask: readonly number[];
}

/** A text's slice of each output: the row of the batch it ran in. */
export type RowOutputs = Record<string, Tensor>;

export interface BatchLimits {
  /** Rows of the compiled program. */
  readonly maxTexts: number;
  /** Tokens per batch (the texts' own, special tokens included). */
  readonly maxTokens: number;
  /** How long the oldest text waits for others. */
  readonly maxWaitMs: number;
  /** Texts that may wait at once; more are refused (QueueFull). */
  readonly maxQueue: number;
}

export class QueueFull extends Error {
  override name = 'QueueFull';
}

interface Waiting {
  readonly text: EncodedText;
  readonly since: number;
  readonly done: (outputs: RowOutputs) => void;
  readonly failed: (e: unknown) => void;
}

/** Runs one batch: the texts' rows padded into the program's inputs, the outputs whose first axis is the batch. */
export type RunBatch = (texts: readonly EncodedText[]) => Promise<Record<string, Tensor>>;

export class Batcher {
  private readonly queue: Waiting[] = [];
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private idle: (() => void)[] = [];
  /** Shutting down: batches go as soon as the model is free. */
  private flushing = false;

  constructor(
    private readonly limits: BatchLimits,
    private readonly run: RunBatch,
    private readonly metrics: ServerMetrics,
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  /** Each text's outputs, in order; refused whole (QueueFull) if the queue has no room for all of them. */
  submit(texts: readonly EncodedText[]): Promise<RowOutputs[]> {
    if (this.queue.length + texts.length > this.limits.maxQueue) {
      return Promise.reject(new QueueFull(`the queue holds ${this.queue.length} texts of at most ${this.limits.maxQueue}`));
    }
    const now = performance.now();
    const results = texts.map((text) => new Promise<RowOutputs>((done, failed) => this.queue.push({ text, since: now, done, failed })));
    this.schedule();
    return Promise.all(results);
  }

  /** Runs what waits without waiting any longer for company, and resolves once every text submitted has its answer. */
  drain(): Promise<void> {
    this.flushing = true;
    this.schedule();
    if (!this.running && !this.queue.length) return Promise.resolve();
    return new Promise((done) => this.idle.push(done));
  }

  /** The texts of the next batch: from the front of the queue, while rows and tokens last (the first always fits). */
  private take(): Waiting[] {
    let tokens = 0;
    let n = 0;
    for (const w of this.queue) {
      const length = w.text.input_ids.length;
      if (n === this.limits.maxTexts || (n > 0 && tokens + length > this.limits.maxTokens)) break;
      tokens += length;
      n++;
    }
    return this.queue.splice(0, n);
  }

  /** Whether the queue holds a full batch already. */
  private full(): boolean {
    let tokens = 0;
    for (const [n, w] of this.queue.entries()) {
      tokens += w.text.input_ids.length;
      if (n + 1 >= this.limits.maxTexts || tokens >= this.limits.maxTokens) return true;
    }
    return false;
  }

  private schedule(): void {
    if (this.running || !this.queue.length) {
      if (!this.running && !this.queue.length) for (const done of this.idle.splice(0)) done();
      return;
    }
    const waited = performance.now() - this.queue[0]!.since;
    if (this.flushing || this.full() || waited >= this.limits.maxWaitMs) {
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.dispatch();
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.schedule();
      }, this.limits.maxWaitMs - waited);
    }
  }

  private async dispatch(): Promise<void> {
    const batch = this.take();
    this.running = true;
    const start = performance.now();
    const tokens = batch.reduce((sum, w) => sum + w.text.input_ids.length, 0);
    for (const w of batch) this.metrics.queueSeconds.observe((start - w.since) / 1e3);
    this.metrics.batches.inc();
    this.metrics.batchTexts.observe(batch.length);
    this.metrics.batchTokens.observe(tokens);
    try {
      const outputs = await this.run(batch.map((w) => w.text));
      this.metrics.texts.inc({}, batch.length);
      this.metrics.tokens.inc({}, tokens);
      batch.forEach((w, r) => w.done(rowOf(outputs, r)));
    } catch (e) {
      for (const w of batch) w.failed(e);
    } finally {
      this.running = false;
      this.schedule();
    }
  }
}

/** Row r of every output whose first axis is the batch. */
function rowOf(outputs: Record<string, Tensor>, r: number): RowOutputs {
  return Object.fromEntries(Object.entries(outputs).map(([name, t]) => {
    const rows = t.shape[0]!;
    const width = t.data.length / rows;
    return [name, { ...t, shape: t.shape.slice(1), data: t.data.slice(r * width, (r + 1) * width) }];
  }));
}
