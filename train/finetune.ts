// Fine-tuning: a task head on a (pretrained) model, trained on labeled data
// with AdamW and evaluated after every epoch; the best epoch's model is kept.

import { stringify } from 'yaml';
import { RunFailure } from '../runtime/errors.js';
import type { Session } from '../runtime/session.js';
import type { EncodedBatchRow } from './labeled.js';
import type { Trainer } from './trainer.js';

export type Task = 'classification' | 'token-classification';
export const TASKS: readonly Task[] = ['classification', 'token-classification'];

export const ARCHITECTURE: Readonly<Record<Task, string>> = {
  classification: 'BertForSequenceClassification',
  'token-classification': 'BertForTokenClassification',
};

/** The spec of the model with the task's head and loss, as overrides on top of it. */
export function taskSpec(model: string, task: Task, numLabels: number): string {
  const sentence = task === 'classification';
  const spec = {
    name: 'finetune',
    extends: model,
    // The pooler feeds sentence heads; models imported without one get it back.
    model: sentence ? { body: { pooled: { op: 'pooler', in: 'sequence', scope: 'pooler' } }, outputs: { pooler_output: 'pooled' } } : {},
    heads: {
      mlm: null, nsp: null, qa: null,
      classifier: { op: sentence ? 'sequence_classifier' : 'token_classifier', in: sentence ? 'pooler_output' : 'last_hidden_state', scope: 'classifier', num_labels: numLabels, outputs: { logits: 'logits' } },
    },
    training: {
      inputs: { labels: { dtype: 'i32', shape: sentence ? ['batch'] : ['batch', 'seq'] }, next_sentence_label: null, start_positions: null, end_positions: null },
      losses: { mlm_loss: null, nsp_loss: null, start_loss: null, end_loss: null, classification_loss: { op: 'cross_entropy', in: ['logits', 'labels'] } },
      metrics: { mlm_acc: null, nsp_acc: null, start_acc: null, end_acc: null, accuracy: { op: 'accuracy', in: ['logits', 'labels'] } },
    },
  };
  return stringify(spec);
}

export function stackRows(rows: readonly EncodedBatchRow[]): Record<string, Int32Array> {
  return {
    input_ids: Int32Array.from(rows.flatMap((r) => r.input_ids)),
    token_type_ids: Int32Array.from(rows.flatMap((r) => r.token_type_ids)),
    attention_mask: Int32Array.from(rows.flatMap((r) => r.attention_mask)),
    labels: Int32Array.from(rows.flatMap((r) => (Array.isArray(r.labels) ? r.labels : [r.labels]))),
  };
}

export interface Evaluation {
  readonly accuracy: number;
  /** Macro-averaged F1 over the classes. */
  readonly f1: number;
  readonly loss: number;
}

/** Runs the inference program over the examples (the last batch padded with repeats) and scores the logits. */
export function evaluate(session: Session, rows: readonly EncodedBatchRow[], batch: number, classes: number): Evaluation {
  const pairs: [number, number][] = []; // [predicted, gold]
  let lossSum = 0;
  for (let start = 0; start < rows.length; start += batch) {
    const chunk = rows.slice(start, start + batch);
    const padded = [...chunk, ...new Array<EncodedBatchRow>(batch - chunk.length).fill(chunk[0]!)];
    const { labels: _labels, ...inputs } = stackRows(padded);
    void _labels;
    const logits = session.run(inputs, undefined, ['logits'])['logits']!.data;
    chunk.forEach((row, r) => {
      const golds = Array.isArray(row.labels) ? row.labels : [row.labels];
      golds.forEach((gold, position) => {
        if (gold === -100) return;
        const base = (r * golds.length + position) * classes;
        let best = 0;
        let max = -Infinity;
        for (let c = 0; c < classes; c++) if (logits[base + c]! > max) [max, best] = [logits[base + c]!, c];
        let sum = 0;
        for (let c = 0; c < classes; c++) sum += Math.exp(logits[base + c]! - max);
        lossSum += max + Math.log(sum) - logits[base + gold]!;
        pairs.push([best, gold]);
      });
    });
  }
  const accuracy = pairs.filter(([p, g]) => p === g).length / pairs.length;
  const f1s = Array.from({ length: classes }, (_, c) => {
    const tp = pairs.filter(([p, g]) => p === c && g === c).length;
    const predicted = pairs.filter(([p]) => p === c).length;
    const actual = pairs.filter(([, g]) => g === c).length;
    return predicted + actual === 0 ? undefined : (2 * tp) / (predicted + actual);
  }).filter((f): f is number => f !== undefined);
  return { accuracy, f1: f1s.reduce((a, f) => a + f, 0) / f1s.length, loss: lossSum / pairs.length };
}

/** Copies every parameter from the training session into the evaluation session. */
export function copyParams(from: Session, to: Session): void {
  to.setParams(Object.fromEntries(to.program.params.map((p) => [p.name, from.param(p.name)])));
}

/** One epoch of steps over shuffled rows; returns the mean training loss. */
export function trainEpoch(trainer: Trainer, rows: readonly EncodedBatchRow[], order: readonly number[], batch: number): number {
  let total = 0;
  let steps = 0;
  for (let start = 0; start + batch <= order.length; start += batch) {
    const metrics = trainer.trainStep(stackRows(order.slice(start, start + batch).map((i) => rows[i]!)));
    if (!Number.isFinite(metrics.loss!)) throw new RunFailure(`the loss is ${metrics.loss} at step ${trainer.step}; stopping, the best checkpoint so far is kept`);
    total += metrics.loss!;
    steps++;
  }
  return total / Math.max(1, steps);
}
