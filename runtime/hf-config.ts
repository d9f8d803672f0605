// A model's config as HuggingFace's BertConfig (config.json), for checkpoints
// that HuggingFace transformers and `tcc run` load; and whether a path is
// such a model directory.

import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** A HuggingFace model directory: config.json (and model.safetensors, vocab.txt) rather than a spec file. */
export function isHfDirectory(path: string): boolean {
  return existsSync(join(path, 'config.json')) && statSync(path).isDirectory();
}

const HF_ACTIVATION: Readonly<Record<string, string>> = { gelu: 'gelu', gelu_tanh: 'gelu_new', relu: 'relu' };

const KEYS = [
  'vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'max_position_embeddings',
  'type_vocab_size', 'hidden_dropout_prob', 'attention_probs_dropout_prob', 'layer_norm_eps', 'initializer_range', 'pad_token_id',
];

export function hfConfig(config: Readonly<Record<string, unknown>>, architecture: string): object {
  const out: Record<string, unknown> = { architectures: [architecture], model_type: 'bert' };
  for (const key of KEYS) if (config[key] !== undefined) out[key] = config[key];
  const act = String(config.hidden_act ?? 'gelu');
  out.hidden_act = Object.hasOwn(HF_ACTIVATION, act) ? HF_ACTIVATION[act] : config.hidden_act;
  // Settings HuggingFace's BERT lacks are written as they are: an importer must refuse them, not guess.
  out.position_embedding_type = config.position_embedding_type === 'sinusoidal' ? 'sinusoidal' : 'absolute';
  if (config.norm_placement === 'pre') out.norm_placement = 'pre';
  return out;
}
