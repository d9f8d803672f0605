// The spec of fine-tuning: a model with a task's head and loss, written as
// overrides of the model (YAML text that extends it). Apart from the training
// loop (train/finetune.ts), which also runs in the browser.

import { stringify } from 'yaml';
import type { Task } from './finetune.js';

/** The spec of the model with the task's head and loss, as overrides on top of it. */
export function taskSpec(model: string, task: Task, numLabels: number): string {
  if (task === 'qa') {
    return stringify({
      name: 'finetune',
      extends: model,
      heads: { mlm: null, nsp: null, classifier: null, qa: { op: 'qa_head', in: 'last_hidden_state', scope: 'qa_outputs', outputs: { start_logits: 'start', end_logits: 'end' } } },
      training: {
        inputs: { labels: null, next_sentence_label: null, start_positions: { dtype: 'i32', shape: ['batch'] }, end_positions: { dtype: 'i32', shape: ['batch'] } },
        losses: { mlm_loss: null, nsp_loss: null, classification_loss: null, start_loss: { op: 'half_cross_entropy', in: ['start_logits', 'start_positions'] }, end_loss: { op: 'half_cross_entropy', in: ['end_logits', 'end_positions'] } },
        metrics: { mlm_acc: null, nsp_acc: null, accuracy: null, start_acc: { op: 'accuracy', in: ['start_logits', 'start_positions'] }, end_acc: { op: 'accuracy', in: ['end_logits', 'end_positions'] } },
      },
    });
  }
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
