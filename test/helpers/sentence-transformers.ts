// Sentence-transformers directories for the tests: a model of small odd
// sizes (its config.json from the family's fields), its tokenizer.json,
// modules.json with a Pooling module (and a Normalize one where asked), the
// pooling settings, and random weights by HuggingFace's names.

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileFile } from '../../compiler/compile.js';
import { writeSafetensors } from '../../runtime/safetensors.js';
import { randomCheckpoint } from './programs.js';
import { wordPieceJson } from './tokenizers.js';

const WORDS = ['the', 'cat', 'dog', 'sat', 'on', 'mat', 'ran', 'fast', 'a', 'red', 'big', 'and', 'slow', '.', ','];
/** sentence_bert_config.json's max_seq_length. */
export const MAX_LENGTH = 12;

/** A WordPiece tokenizer.json (BERT's layout) over the test's words. */
export function wordPieceTokenizer(): object {
  const vocab: Record<string, number> = {};
  for (const t of ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...WORDS]) vocab[t] = Object.keys(vocab).length;
  return wordPieceJson(vocab, true);
}

export const SIZES = { hidden_size: 24, num_hidden_layers: 2, num_attention_heads: 3, intermediate_size: 37, hidden_act: 'gelu', max_position_embeddings: 20, layer_norm_eps: 1e-12 };

/** A sentence-transformers directory: the model, its tokenizer, modules.json and the pooling settings. */
export function stDirectory(config: Record<string, unknown>, tokenizer: object, pooling: string, normalize: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'tcc-st-'));
  const table = (tokenizer as { model: { vocab: Record<string, number> | [string, number][] } }).model.vocab;
  const vocab = Array.isArray(table) ? table.length : Math.max(...Object.values(table)) + 1;
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...SIZES, vocab_size: vocab, ...config }, null, 2));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  const modules = [{ idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' }, { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' }];
  if (normalize) modules.push({ idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' });
  writeFileSync(join(dir, 'modules.json'), JSON.stringify(modules, null, 2));
  mkdirSync(join(dir, '1_Pooling'));
  const modes = ['cls_token', 'mean_tokens', 'max_tokens', 'mean_sqrt_len_tokens'];
  writeFileSync(join(dir, '1_Pooling', 'config.json'), JSON.stringify({ word_embedding_dimension: SIZES.hidden_size, ...Object.fromEntries(modes.map((m) => [`pooling_mode_${m}`, m === pooling])) }, null, 2));
  writeFileSync(join(dir, 'sentence_bert_config.json'), JSON.stringify({ max_seq_length: MAX_LENGTH, do_lower_case: false }));
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(randomCheckpoint(compileFile(dir, { batch: 1, seq: 4 }).graph, 3, 0.8)));
  return dir;
}

