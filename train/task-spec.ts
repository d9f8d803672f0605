// The spec of fine-tuning: a model with a task's head and loss, written as
// overrides of the model (YAML text that extends it). BERT's heads sit on
// the pooler (given back to models imported without one); another family
// takes the head HuggingFace's class for the task has (RobertaFor…
// ClassificationHead on the first token, DistilBERT's pre_classifier, …),
// from the same table that imports its checkpoints. Every head, loss and
// metric of the model is left out but the task's.

import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { familyOf } from '../compiler/export/hf-config.js';
import { FAMILIES } from '../compiler/parser/hf-families.js';
import { loadSpec } from '../compiler/parser/load.js';
import type { Spec } from '../compiler/parser/spec.js';
import { isHfDirectory } from '../runtime/hf-config.js';
import type { Task } from './finetune.js';

/** HuggingFace's class suffix of each task. */
const CLASS_SUFFIX: Readonly<Record<Task, string>> = { classification: 'ForSequenceClassification', 'token-classification': 'ForTokenClassification', qa: 'ForQuestionAnswering' };

export class TaskError extends Error {
  override name = 'TaskError';
}

/** The task's head: BERT's, or the family class's overrides (heads, and the model's pooling where the class has its own). */
function headOverrides(family: string, task: Task, numLabels: number, config: (key: string) => unknown): { model?: object; heads?: object } {
  if (family === 'bert') {
    if (task === 'qa') return { heads: { qa: { op: 'qa_head', in: 'last_hidden_state', scope: 'qa_outputs', outputs: { start_logits: 'start', end_logits: 'end' } } } };
    const sentence = task === 'classification';
    return {
      // The pooler feeds sentence heads; models imported without one get it back.
      model: sentence ? { body: { pooled: { op: 'pooler', in: 'sequence', scope: 'pooler' } }, outputs: { pooler_output: 'pooled' } } : {},
      heads: { classifier: { op: sentence ? 'sequence_classifier' : 'token_classifier', in: sentence ? 'pooler_output' : 'last_hidden_state', scope: 'classifier', num_labels: numLabels, outputs: { logits: 'logits' } } },
    };
  }
  const { architectures } = FAMILIES[family]!;
  const prefix = Object.keys(architectures).find((a) => a.endsWith('Model'))!.slice(0, -'Model'.length);
  const heads = architectures[prefix + CLASS_SUFFIX[task]];
  if (!heads) throw new TaskError(`${family} has no ${task} head (HuggingFace's classes for it: ${Object.keys(architectures).join(', ')})`);
  return heads(numLabels, config) as { model?: object; heads?: object };
}

/** The family's defaults of the settings the head's blocks name and the model lacks (DistilBERT's classifier dropout). */
function headDefaults(family: string, spec: Spec, heads: object | undefined): Record<string, unknown> {
  const blocks = Object.values(heads ?? {}).map((h) => (h as { op?: string } | null)?.op).filter((op) => op !== undefined && Object.hasOwn(spec.blocks, op));
  const named = JSON.stringify(blocks.map((op) => spec.blocks[op!]!.body));
  return Object.fromEntries(Object.entries(FAMILIES[family]?.defaults ?? {}).filter(([key]) => spec.config[key] === undefined && new RegExp(`\\b${key}\\b`).test(named)));
}

/** The training section of a task: its labels, loss and metric. */
function taskTraining(task: Task): { inputs: object; losses: object; metrics: object } {
  if (task === 'qa') {
    return {
      inputs: { start_positions: { dtype: 'i32', shape: ['batch'] }, end_positions: { dtype: 'i32', shape: ['batch'] } },
      losses: { start_loss: { op: 'half_cross_entropy', in: ['start_logits', 'start_positions'] }, end_loss: { op: 'half_cross_entropy', in: ['end_logits', 'end_positions'] } },
      metrics: { start_acc: { op: 'accuracy', in: ['start_logits', 'start_positions'] }, end_acc: { op: 'accuracy', in: ['end_logits', 'end_positions'] } },
    };
  }
  return {
    inputs: { labels: { dtype: 'i32', shape: task === 'classification' ? ['batch'] : ['batch', 'seq'] } },
    losses: { classification_loss: { op: 'cross_entropy', in: ['logits', 'labels'] } },
    metrics: { accuracy: { op: 'accuracy', in: ['logits', 'labels'] } },
  };
}

const nulls = (names: readonly string[]) => Object.fromEntries(names.map((n) => [n, null]));

/**
 * The spec of the model (`file`, loaded as `spec`, of `family`) with the
 * task's head and loss, as overrides on top of it; TaskError where the
 * family has no head for the task.
 */
export function taskSpec(file: string, spec: Spec, family: string, task: Task, numLabels: number): string {
  const config = (key: string) => spec.config[key]?.value;
  const overrides = headOverrides(family, task, numLabels, config);
  const training = taskTraining(task);
  const defaults = headDefaults(family, spec, overrides.heads);
  return stringify({
    name: 'finetune',
    extends: file,
    ...(Object.keys(defaults).length ? { config: defaults } : {}),
    ...(overrides.model ? { model: overrides.model } : {}),
    heads: { ...nulls(spec.heads.map((h) => h.step.name)), ...overrides.heads },
    training: {
      inputs: { ...nulls(spec.training.inputs.map((i) => i.name)), ...training.inputs },
      losses: { ...nulls(spec.training.losses.steps.map((l) => l.name)), ...training.losses },
      metrics: { ...nulls(spec.training.metrics.steps.map((m) => m.name)), ...training.metrics },
    },
  });
}

/** The fine-tuning spec of a model file or directory: where it is written (beside the model) and its text. */
export function taskSpecFor(model: string, task: Task, numLabels: number): { file: string; text: string } {
  const { spec } = loadSpec(model);
  return { file: join(isHfDirectory(model) ? model : dirname(model), 'finetune.tcc.yaml'), text: taskSpec(model, spec, familyOf(spec), task, numLabels) };
}
