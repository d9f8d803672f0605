// Fine-tuning: a task head on a (pretrained) model, trained on labeled data
// with AdamW and evaluated after every epoch; the best epoch's model is kept.

import { RunFailure } from '../runtime/errors.js';
import { nonFiniteHint } from '../backends/registry.js';
import type { Session, Tensor } from '../runtime/session.js';
import type { Program } from '../runtime/program.js';
import { isPacked, packPadded, unpackOutputs, type PackedBatch } from '../runtime/packed.js';
import type { EncodedBatchRow } from './labeled.js';
import type { EncodedQa } from './squad.js';
import { classificationReport, spanScores } from './metrics.js';
import type { Metrics, Trainer } from './trainer.js';

export type Task = 'classification' | 'token-classification' | 'qa';
export const TASKS: readonly Task[] = ['classification', 'token-classification', 'qa'];

/** Each task's output and its rank (what picks HuggingFace's class for the fine-tuned model). */
export const TASK_OUTPUT: Readonly<Record<Task, readonly [string, number]>> = {
  classification: ['logits', 2],
  'token-classification': ['logits', 3],
  qa: ['start_logits', 2],
};

/** Batched inputs; question answering's labels are the [start, end] pair of each row. */
export function stackRows(rows: readonly EncodedBatchRow[], qa = false): Record<string, Int32Array> {
  const common = {
    input_ids: Int32Array.from(rows.flatMap((r) => r.input_ids)),
    token_type_ids: Int32Array.from(rows.flatMap((r) => r.token_type_ids)),
    attention_mask: Int32Array.from(rows.flatMap((r) => r.attention_mask)),
  };
  if (qa) {
    const pair = (r: EncodedBatchRow) => r.labels as number[];
    return { ...common, start_positions: Int32Array.from(rows.map((r) => pair(r)[0]!)), end_positions: Int32Array.from(rows.map((r) => pair(r)[1]!)) };
  }
  return { ...common, labels: Int32Array.from(rows.flatMap((r) => (Array.isArray(r.labels) ? r.labels : [r.labels]))) };
}

/**
 * Rows as a padding-free program's batch: each row's tokens where its
 * attention mask is 1 (and a tagger's labels there), one stream; the
 * per-sequence labels (a class, a span's start and end) beside.
 */
export function packRows(program: Program, rows: readonly EncodedBatchRow[], qa = false): PackedBatch {
  return packPadded(program, stackRows(rows, qa), rows.length, rows[0]!.input_ids.length);
}

/**
 * An inference session's outputs for rows of one length, laid out per row:
 * a program of one shape runs them stacked (the batch filled with repeats of
 * its first row), a padding-free one packed.
 */
async function runRows(session: Session, rows: readonly EncodedBatchRow[], batch: number, wanted: readonly string[]): Promise<Record<string, Tensor>> {
  if (isPacked(session.program)) {
    const packed = packRows(session.program, rows);
    const out = await session.run(packed.inputs, { seed: 0, step: 0, sizes: packed.sizes }, wanted);
    return unpackOutputs(session.program, packed, out, rows[0]!.input_ids.length);
  }
  const padded = [...rows, ...new Array<EncodedBatchRow>(batch - rows.length).fill(rows[0]!)];
  const { input_ids, token_type_ids, attention_mask } = stackRows(padded);
  return session.run({ input_ids, token_type_ids, attention_mask }, undefined, wanted);
}

/** The best answer span of a row (at most 30 tokens, inside the context; inclusive) and the loss of its gold span, if it has one. */
export interface SpanPrediction {
  readonly start: number;
  readonly end: number;
  readonly loss?: number;
}

/** Cross-entropy of a row of logits at `gold`. */
function crossEntropy(logits: ArrayLike<number>, gold: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return max + Math.log(sum) - logits[gold]!;
}

/** Each row's best answer span by start + end logits. */
export async function predictSpans(session: Session, rows: readonly EncodedQa[], batch: number): Promise<SpanPrediction[]> {
  const out: SpanPrediction[] = [];
  for (let startRow = 0; startRow < rows.length; startRow += batch) {
    const chunk = rows.slice(startRow, startRow + batch);
    const logits = await runRows(session, chunk, batch, ['start_logits', 'end_logits']);
    const seq = chunk[0]!.input_ids.length;
    chunk.forEach((row, r) => {
      const s = logits['start_logits']!.data.subarray(r * seq, (r + 1) * seq);
      const e = logits['end_logits']!.data.subarray(r * seq, (r + 1) * seq);
      let best: [number, number] = [row.contextFrom, row.contextFrom];
      let score = -Infinity;
      for (let i = row.contextFrom; i < row.contextTo; i++) {
        for (let j = i; j < Math.min(row.contextTo, i + 30); j++) {
          if (s[i]! + e[j]! > score) [score, best] = [s[i]! + e[j]!, [i, j]];
        }
      }
      const gold = row.start === undefined ? {} : { loss: (crossEntropy(s, row.start) + crossEntropy(e, row.end!)) / 2 };
      out.push({ start: best[0], end: best[1], ...gold });
    });
  }
  return out;
}

/** Span exact match (accuracy) and token-overlap F1 of the best answer span (at most 30 tokens, inside the context). */
export async function evaluateQa(session: Session, rows: readonly EncodedQa[], batch: number): Promise<Evaluation> {
  const spans = await predictSpans(session, rows, batch);
  let [exact, f1, loss] = [0, 0, 0];
  spans.forEach((p, i) => {
    const scores = spanScores([p.start, p.end], [rows[i]!.start!, rows[i]!.end!]);
    exact += scores.exact;
    f1 += scores.f1;
    loss += p.loss!;
  });
  return { accuracy: exact / rows.length, f1: f1 / rows.length, loss: loss / rows.length };
}

export interface Evaluation {
  readonly accuracy: number;
  /** Macro-averaged F1 over the classes. */
  readonly f1: number;
  readonly loss: number;
}

/** A labelled position's gold and predicted class (the likeliest) and its cross-entropy: a sentence per row, or each tagged token of it. */
export interface ClassPrediction {
  readonly row: number;
  readonly position: number;
  readonly gold: number;
  readonly predicted: number;
  readonly loss: number;
}

/** Runs the inference program over the rows (the last batch padded with repeats): each labelled position's prediction, in order. */
export async function predictClasses(session: Session, rows: readonly EncodedBatchRow[], batch: number, classes: number): Promise<ClassPrediction[]> {
  const out: ClassPrediction[] = [];
  for (let start = 0; start < rows.length; start += batch) {
    const chunk = rows.slice(start, start + batch);
    const logits = (await runRows(session, chunk, batch, ['logits']))['logits']!.data;
    chunk.forEach((row, r) => {
      const golds = Array.isArray(row.labels) ? row.labels : [row.labels];
      golds.forEach((gold, position) => {
        if (gold === -100) return;
        const at = logits.subarray((r * golds.length + position) * classes, (r * golds.length + position + 1) * classes);
        let predicted = 0;
        for (let c = 1; c < classes; c++) if (at[c]! > at[predicted]!) predicted = c;
        out.push({ row: start + r, position, gold, predicted, loss: crossEntropy(at, gold) });
      });
    });
  }
  return out;
}

/** Accuracy, macro F1 and mean loss of the rows' labelled positions. */
export async function evaluate(session: Session, rows: readonly EncodedBatchRow[], batch: number, classes: number): Promise<Evaluation> {
  const predictions = await predictClasses(session, rows, batch, classes);
  const report = classificationReport(predictions.map((p) => p.gold), predictions.map((p) => p.predicted), classes);
  return { accuracy: report.accuracy, f1: report.macroF1, loss: predictions.reduce((a, p) => a + p.loss, 0) / predictions.length };
}

/** Copies every parameter from the training session into the evaluation session. */
export async function copyParams(from: Session, to: Session): Promise<void> {
  to.setParams(await from.read(to.program.params.map((p) => p.name)));
}

/** One epoch of steps over shuffled rows; returns the mean training loss. */
export async function trainEpoch(trainer: Trainer, rows: readonly EncodedBatchRow[], order: readonly number[], batch: number, qa = false, onStep?: (metrics: Metrics) => void): Promise<number> {
  let total = 0;
  let steps = 0;
  for (let start = 0; start + batch <= order.length; start += batch) {
    let metrics;
    try {
      const chunk = order.slice(start, start + batch).map((i) => rows[i]!);
      // A padding-free program takes the batch as one stream of its rows' real tokens.
      const packed = isPacked(trainer.session.program) ? packRows(trainer.session.program, chunk, qa) : undefined;
      metrics = await (packed ? trainer.trainStep(packed.inputs, packed.sizes) : trainer.trainStep(stackRows(chunk, qa)));
    } catch (e) {
      if (e instanceof RunFailure) throw new RunFailure(`${e.message} at step ${trainer.step + 1}; stopping, the best checkpoint so far is kept`);
      throw e;
    }
    if (!Number.isFinite(metrics.loss!)) throw new RunFailure(`the loss is ${metrics.loss} at step ${trainer.step} (${nonFiniteHint()}); stopping, the best checkpoint so far is kept`);
    total += metrics.loss!;
    steps++;
    onStep?.(metrics);
  }
  return total / Math.max(1, steps);
}
