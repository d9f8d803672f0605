// HuggingFace config.json → spec. A BERT directory (config.json, and beside it
// model.safetensors and vocab.txt) becomes a spec that extends the shipped
// bert.yaml with the config's hyper-parameters and the heads of its
// architecture. config.json is read with positions (JSON is YAML), so an
// unsupported setting is reported at its line and column.

import { readSpecText } from './files.js';
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { CompileError, DiagnosticBag } from './diagnostics.js';
import { parseJson } from './json.js';
import { toPlain, type LMap, type LNode } from './yaml.js';
import { own } from './spec.js';
import { CONFIG_LIMITS } from './spec-schema.js';
import { isHfDirectory } from '../../runtime/hf-config.js';

/** The most labels a classifier head may have. */
const MAX_LABELS = [1, 65_536] as const;

/** Config keys carried over as they are (HuggingFace's names are the spec's). */
const CARRIED = [
  'vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'max_position_embeddings',
  'type_vocab_size', 'hidden_dropout_prob', 'attention_probs_dropout_prob', 'layer_norm_eps', 'initializer_range', 'pad_token_id',
] as const;

const ACTIVATIONS: Readonly<Record<string, string>> = { gelu: 'gelu', gelu_new: 'gelu_tanh', gelu_pytorch_tanh: 'gelu_tanh', relu: 'relu' };

const noPooler = { body: { pooled: null }, outputs: { pooler_output: null } };
const withPooler = { body: { pooled: { op: 'pooler', in: 'sequence', scope: 'pooler' } }, outputs: { pooler_output: 'pooled' } };
const classifier = (op: string, input: string, numLabels: number) => ({ op, in: input, scope: 'classifier', num_labels: numLabels, outputs: { logits: 'logits' } });
const qa = { op: 'qa_head', in: 'last_hidden_state', scope: 'qa_outputs', outputs: { start_logits: 'start', end_logits: 'end' } };

/** An architecture's overrides, from its label count and config.json's values. */
type Heads = (numLabels: number, config: (key: string) => unknown) => object;

/**
 * A family of HuggingFace models: the shipped spec its imports extend, and
 * per architecture the overrides of that spec (heads, and the pooler where
 * the architecture has one and the spec does not, or the reverse).
 */
interface Family {
  readonly spec: string;
  readonly architectures: Readonly<Record<string, Heads>>;
  /** config.json keys carried into the spec under the spec's name for them (HuggingFace's BERT names are the spec's). */
  readonly keys?: Readonly<Record<string, string>>;
  /** Spec config values the family's config.json may leave out. */
  readonly defaults?: Readonly<Record<string, unknown>>;
  /** Fields of the family's config.json with no effect on a model built from a checkpoint (each says why). */
  readonly ignored?: readonly string[];
  /** Fields that must hold the value tcc builds. */
  readonly required?: Readonly<Record<string, unknown>>;
  /** Fields whose values are words, each to the spec's word (anything else is refused, naming those supported). */
  readonly values?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Spec config values from fields whose shape is not one value per key (nested, or a list to check); errors at their nodes. */
  readonly derive?: (entry: (key: string) => LNode | undefined, error: (node: LNode, message: string) => void) => Record<string, unknown>;
  /** The fields `derive` reads. */
  readonly derived?: readonly string[];
  /** The position_embedding_type config.json must have, where it has one (default 'absolute'). */
  readonly positions?: string;
}

const same = (keys: readonly string[]) => Object.fromEntries(keys.map((k) => [k, k]));

const BERT: Family = {
  spec: 'tcc:bert.yaml',
  architectures: {
    BertForPreTraining: () => ({}),
    BertModel: () => ({ heads: null }),
    BertForMaskedLM: () => ({ model: noPooler, heads: { nsp: null } }),
    BertForNextSentencePrediction: () => ({ heads: { mlm: null } }),
    BertForSequenceClassification: (n) => ({ heads: { mlm: null, nsp: null, classifier: classifier('sequence_classifier', 'pooler_output', n) } }),
    BertForTokenClassification: (n) => ({ model: noPooler, heads: { mlm: null, nsp: null, classifier: classifier('token_classifier', 'last_hidden_state', n) } }),
    BertForQuestionAnswering: () => ({ model: noPooler, heads: { mlm: null, nsp: null, qa } }),
  },
};

/** RoBERTa's architectures under a class prefix (XLM-R's are RoBERTa's with other names). */
function robertaFamily(prefix: string): Family {
  return {
    spec: 'tcc:roberta.yaml',
    architectures: {
      [`${prefix}Model`]: () => ({ model: withPooler, heads: null }),
      [`${prefix}ForMaskedLM`]: () => ({}),
      [`${prefix}ForSequenceClassification`]: (n) => ({ heads: { mlm: null, classifier: classifier('roberta_classification_head', 'last_hidden_state', n) } }),
      [`${prefix}ForTokenClassification`]: (n) => ({ heads: { mlm: null, classifier: classifier('token_classifier', 'last_hidden_state', n) } }),
      [`${prefix}ForQuestionAnswering`]: () => ({ heads: { mlm: null, qa } }),
    },
  };
}

const DISTILBERT: Family = {
  spec: 'tcc:distilbert.yaml',
  architectures: {
    DistilBertModel: () => ({ heads: null }),
    DistilBertForMaskedLM: () => ({}),
    DistilBertForSequenceClassification: (n) => ({ heads: { masked_lm: null, classifier: { ...classifier('distilbert_sequence_classifier', 'last_hidden_state', n), scope: undefined } } }),
    DistilBertForTokenClassification: (n) => ({ heads: { masked_lm: null, classifier: { ...classifier('distilbert_token_classifier', 'last_hidden_state', n), scope: undefined } } }),
    DistilBertForQuestionAnswering: () => ({ heads: { masked_lm: null, qa: { ...qa, op: 'distilbert_qa_head', scope: undefined } } }),
  },
  keys: {
    ...same(['vocab_size', 'max_position_embeddings', 'initializer_range', 'qa_dropout', 'seq_classif_dropout']),
    dim: 'hidden_size', n_layers: 'num_hidden_layers', n_heads: 'num_attention_heads', hidden_dim: 'intermediate_size',
    dropout: 'hidden_dropout_prob', attention_dropout: 'attention_probs_dropout_prob', activation: 'hidden_act',
  },
  defaults: { qa_dropout: 0.1, seq_classif_dropout: 0.2 },
  // The padding row and sinusoidal_pos_embds only choose how HuggingFace initializes tables a checkpoint holds.
  ignored: ['pad_token_id', 'sinusoidal_pos_embds'],
  required: { tie_weights_: true },
};

const ALBERT: Family = {
  spec: 'tcc:albert.yaml',
  architectures: {
    AlbertModel: () => ({ heads: null }),
    AlbertForPreTraining: () => ({}),
    AlbertForMaskedLM: () => ({ model: noPooler, heads: { nsp: null } }),
    AlbertForSequenceClassification: (n) => ({ heads: { mlm: null, nsp: null, classifier: { op: 'albert_classifier', in: 'pooler_output', num_labels: n, outputs: { logits: 'logits' } } } }),
    AlbertForTokenClassification: (n) => ({ model: noPooler, heads: { mlm: null, nsp: null, classifier: { op: 'albert_classifier', in: 'last_hidden_state', num_labels: n, outputs: { logits: 'logits' } } } }),
    AlbertForQuestionAnswering: () => ({ model: noPooler, heads: { mlm: null, nsp: null, qa } }),
  },
  keys: { ...same(CARRIED), ...same(['embedding_size', 'classifier_dropout_prob', 'hidden_act']) },
  // One group of one layer, shared by the whole stack: ALBERT as published.
  required: { num_hidden_groups: 1, inner_group_num: 1 },
};

/** ElectraModel projects its embeddings only where embedding_size differs from hidden_size (defaults 128 and 256). */
const electraBody = (config: (key: string) => unknown) =>
  (config('embedding_size') ?? 128) === (config('hidden_size') ?? 256) ? { model: { body: { projected: { op: 'electra_no_projection', in: 'embedded' } } } } : {};

const ELECTRA: Family = {
  spec: 'tcc:electra.yaml',
  architectures: {
    ElectraModel: (_n, c) => ({ ...electraBody(c), heads: null }),
    ElectraForPreTraining: (_n, c) => electraBody(c),
    ElectraForMaskedLM: (_n, c) => ({ ...electraBody(c), extends: 'tcc:electra-generator.yaml' }),
    ElectraForSequenceClassification: (n, c) => ({ ...electraBody(c), heads: { discriminator: null, classifier: classifier('electra_classification_head', 'last_hidden_state', n) } }),
    ElectraForTokenClassification: (n, c) => ({ ...electraBody(c), heads: { discriminator: null, classifier: classifier('token_classifier', 'last_hidden_state', n) } }),
    ElectraForQuestionAnswering: (_n, c) => ({ ...electraBody(c), heads: { discriminator: null, qa } }),
  },
  keys: { ...same(CARRIED), ...same(['embedding_size', 'hidden_act']) },
  // The pooling settings of ElectraForMultipleChoice, which tcc does not import.
  ignored: ['summary_type', 'summary_use_proj', 'summary_activation', 'summary_last_dropout'],
};

const NOMIC_BERT: Family = {
  spec: 'tcc:nomic-bert.yaml',
  architectures: { NomicBertModel: () => ({ heads: null }), NomicBertForPreTraining: () => ({}) },
  keys: {
    ...same(['vocab_size', 'type_vocab_size', 'initializer_range', 'rotary_emb_base', 'rotary_emb_fraction', 'qkv_proj_bias', 'mlp_fc1_bias', 'mlp_fc2_bias']),
    n_embd: 'hidden_size', n_head: 'num_attention_heads', n_layer: 'num_hidden_layers', n_inner: 'intermediate_size', n_positions: 'max_position_embeddings',
    layer_norm_epsilon: 'layer_norm_eps', resid_pdrop: 'hidden_dropout_prob', attn_pdrop: 'attention_probs_dropout_prob', activation_function: 'gate_act',
  },
  values: { activation_function: { swiglu: 'silu', geglu: 'gelu', glu: 'sigmoid' } },
  required: {
    rotary_emb_interleaved: false, rotary_emb_scale_base: null, rotary_scaling_factor: null, prenorm: false, causal: false, use_rms_norm: false,
    parallel_block: false, scale_attn_by_inverse_layer_idx: false, scale_attn_weights: true,
  },
  // Settings of nomic-ai's code that change how it runs, not what it computes (flash attention, fused kernels, the
  // loss's implementation), the embedding dropout it does not use, and ones that only matter with settings refused above.
  ignored: [
    'auto_map', 'dense_seq_output', 'embd_pdrop', 'fused_bias_fc', 'fused_dropout_add_ln', 'use_flash_attn', 'use_xentropy', 'reorder_and_upcast_attn',
    'max_trained_positions', 'parallel_block_tied_norm', 'pad_vocab_size_multiple', 'summary_type', 'summary_use_proj', 'summary_activation',
    'summary_proj_to_labels', 'summary_first_dropout', 'n_ctx',
  ],
};

/**
 * ModernBERT's rotary bases and layer kinds as transformers 5 writes them:
 * rope_parameters {full_attention, sliding_attention: {rope_theta,
 * rope_type: default}} and layer_types, which must be the pattern of
 * global_attn_every_n_layers (every N-th layer full, from the first).
 */
function modernbertLayout(entry: (key: string) => LNode | undefined, error: (node: LNode, message: string) => void): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // transformers 4 writes local_rope_theta null where the local layers take the global base.
  const local = entry('local_rope_theta');
  if (local && toPlain(local) === null) out.local_rope_theta = toPlain(entry('global_rope_theta') ?? { kind: 'scalar', value: 160000, loc: local.loc });
  const rope = entry('rope_parameters');
  if (rope) {
    const plain = toPlain(rope) as Record<string, { rope_theta?: unknown; rope_type?: unknown } | undefined> | null;
    for (const [kind, key] of [['full_attention', 'global_rope_theta'], ['sliding_attention', 'local_rope_theta']] as const) {
      const p = plain && typeof plain === 'object' ? plain[kind] : undefined;
      if (!p || typeof p.rope_theta !== 'number' || (p.rope_type !== undefined && p.rope_type !== 'default')) error(rope, `rope_parameters.${kind} must be {rope_theta: number, rope_type: 'default'}`);
      else out[key] = p.rope_theta;
    }
  }
  const types = entry('layer_types');
  if (types) {
    const list = toPlain(types);
    const every = toPlain(entry('global_attn_every_n_layers') ?? { kind: 'scalar', value: 3, loc: types.loc }) as number;
    const ok = Array.isArray(list) && list.every((t, i) => t === (i % every === 0 ? 'full_attention' : 'sliding_attention'));
    if (!ok) error(types, `layer_types must be full_attention every global_attn_every_n_layers (${every}) layers from the first, sliding_attention between`);
  }
  return out;
}

const modernbertPooled = (value: (key: string) => unknown) => ({
  body: { classifier_pooled: { op: value('classifier_pooling') === 'cls' ? 'cls_pooling' : 'mean_pooling', in: ['sequence', 'attention_mask'] } },
  outputs: { pooler_output: 'classifier_pooled' },
});

const MODERNBERT: Family = {
  spec: 'tcc:modernbert.yaml',
  architectures: {
    ModernBertModel: () => ({ heads: null }),
    ModernBertForMaskedLM: () => ({}),
    ModernBertForSequenceClassification: (n, c) => ({ model: modernbertPooled(c), heads: { masked_lm: null, classifier: { op: 'modernbert_sequence_classifier', in: 'pooler_output', num_labels: n, outputs: { logits: 'logits' } } } }),
    ModernBertForTokenClassification: (n) => ({ heads: { masked_lm: null, classifier: { op: 'modernbert_token_classifier', in: 'last_hidden_state', num_labels: n, outputs: { logits: 'logits' } } } }),
  },
  keys: {
    ...same(['vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'max_position_embeddings', 'initializer_range',
      'global_rope_theta', 'local_rope_theta', 'local_attention', 'global_attn_every_n_layers', 'attention_bias', 'mlp_bias', 'norm_bias', 'classifier_bias',
      'embedding_dropout', 'attention_dropout', 'mlp_dropout', 'classifier_dropout']),
    norm_eps: 'layer_norm_eps', hidden_activation: 'hidden_act', classifier_activation: 'classifier_act',
  },
  values: { classifier_activation: { gelu: 'gelu', gelu_new: 'gelu_tanh', gelu_pytorch_tanh: 'gelu_tanh', relu: 'relu', silu: 'silu' }, classifier_pooling: { mean: 'mean', cls: 'cls' } },
  required: { decoder_bias: true, sparse_prediction: false },
  derive: modernbertLayout,
  derived: ['rope_parameters', 'layer_types'],
  // Token ids, how HuggingFace runs or initializes it (flash attention, torch.compile, its truncated normal), and the
  // layer_norm_eps that transformers 5 writes beside norm_eps.
  ignored: [
    'pad_token_id', 'cls_token_id', 'deterministic_flash_attn', 'reference_compile', 'repad_logits_with_grad', 'initializer_cutoff_factor',
    'sparse_pred_ignore_index', 'layer_norm_eps', 'classifier_pooling',
  ],
};

/** jina-ai's JinaBERT, which its config.json calls model_type 'bert' (told apart by its classes). */
const JINA_BERT: Family = {
  spec: 'tcc:jina-bert.yaml',
  architectures: {
    JinaBertModel: () => ({ model: withPooler, heads: null }),
    JinaBertForMaskedLM: () => ({}),
    JinaBertForSequenceClassification: (n) => ({ model: withPooler, heads: { mlm: null, classifier: classifier('sequence_classifier', 'pooler_output', n) } }),
  },
  keys: { ...same(CARRIED), hidden_act: 'hidden_act', feed_forward_type: 'glu_act' },
  values: { feed_forward_type: { geglu: 'gelu', reglu: 'relu' } },
  positions: 'alibi',
  // The pooling jina's own encode() applies (tcc embed reads sentence-transformers' modules), and its tokenizer's length.
  ignored: ['auto_map', 'emb_pooler', 'model_max_length'],
};

/** The families tcc imports, by config.json's model_type. */
const FAMILIES: Readonly<Record<string, Family>> = {
  bert: BERT, roberta: robertaFamily('Roberta'), 'xlm-roberta': robertaFamily('XLMRoberta'), distilbert: DISTILBERT, albert: ALBERT, electra: ELECTRA,
  nomic_bert: NOMIC_BERT, modernbert: MODERNBERT,
  // Not a model_type of its own: chosen by its classes (JinaBert…).
  jina_bert: JINA_BERT,
};

/** A config.json without model_type (written by old transformers): the family its architecture names. */
function familyOfArchitecture(arch: string | undefined): string {
  if (arch?.startsWith('DistilBert')) return 'distilbert';
  if (arch?.startsWith('Albert')) return 'albert';
  if (arch?.startsWith('Electra')) return 'electra';
  if (arch?.startsWith('NomicBert')) return 'nomic_bert';
  if (arch?.startsWith('ModernBert')) return 'modernbert';
  if (arch?.startsWith('XLMRoberta')) return 'xlm-roberta';
  if (arch?.startsWith('Roberta')) return 'roberta';
  return 'bert';
}

/**
 * config.json fields that describe no part of the model tcc builds: bookkeeping, tokenizer ids, generation and
 * output settings of HuggingFace's PretrainedConfig. Any field neither carried, checked nor listed here is refused.
 */
const IGNORED = new Set([
  '_name_or_path', 'transformers_version', 'torch_dtype', 'dtype', 'use_cache', 'output_past', 'bos_token_id', 'eos_token_id', 'sep_token_id',
  'problem_type', 'finetuning_task', 'output_attentions', 'output_hidden_states', 'torchscript', 'gradient_checkpointing', 'return_dict',
  'use_bfloat16', 'tf_legacy_loss', 'prefix', 'tokenizer_class', 'task_specific_params', 'label2id', 'max_length', 'min_length', 'do_sample',
  'early_stopping', 'num_beams', 'num_beam_groups', 'diversity_penalty', 'temperature', 'top_k', 'top_p', 'typical_p', 'repetition_penalty',
  'length_penalty', 'no_repeat_ngram_size', 'encoder_no_repeat_ngram_size', 'bad_words_ids', 'num_return_sequences', 'output_scores',
  'return_dict_in_generate', 'forced_bos_token_id', 'forced_eos_token_id', 'remove_invalid_values', 'exponential_decay_length_penalty',
  'suppress_tokens', 'begin_suppress_tokens', 'decoder_start_token_id', 'cross_attention_hidden_size', 'chunk_size_feed_forward', 'model_type', 'architectures',
]);

/** Fields that HuggingFace allows but that would change the model, with the value tcc builds (anything else is refused). */
const REQUIRED: Readonly<Record<string, unknown>> = {
  is_decoder: false, add_cross_attention: false, tie_word_embeddings: true, is_encoder_decoder: false, classifier_dropout: null, pruned_heads: {},
  // tcc's own setting, which its exports write: HuggingFace's models are post-LN.
  norm_placement: 'post',
};

/** sentence-transformers' module types, as modules.json names them. */
const MODULES = { transformer: 'sentence_transformers.models.Transformer', pooling: 'sentence_transformers.models.Pooling', normalize: 'sentence_transformers.models.Normalize' };
const POOLING_MODES: Readonly<Record<string, string>> = { pooling_mode_cls_token: 'cls_pooling', pooling_mode_mean_tokens: 'mean_pooling', pooling_mode_max_tokens: 'max_pooling' };
/** Pooling settings tcc does not build: each must be false (or absent). */
const POOLING_REFUSED = ['pooling_mode_mean_sqrt_len_tokens', 'pooling_mode_weightedmean_tokens', 'pooling_mode_lasttoken'];

/** A located JSON file of a model directory, or undefined where the directory has none. */
function readLocated(file: string, bag: DiagnosticBag, sources: Map<string, string>): LNode | undefined {
  if (!existsSync(file)) return undefined;
  const text = readSpecText(file);
  sources.set(file, text);
  return parseJson(text, file, bag);
}

/**
 * A sentence-transformers directory (modules.json: Transformer, Pooling,
 * Normalize) as model steps: the pooling of its 1_Pooling/config.json over
 * the last hidden state and the attention mask, then L2 normalization where
 * the modules have it, as the output `sentence_embedding`. Anything else in
 * the files is refused at its line.
 */
function sentenceEmbedding(dir: string, hidden: unknown, bag: DiagnosticBag, sources: Map<string, string>): object | undefined {
  const modulesFile = join(dir, 'modules.json');
  const modules = readLocated(modulesFile, bag, sources);
  if (!modules) return undefined;
  if (modules.kind !== 'seq') {
    bag.error(modules.loc, 'modules.json must be a list of modules');
    return undefined;
  }
  let pooling: string | undefined;
  let normalize = false;
  for (const item of modules.items) {
    const fields = item.kind === 'map' ? item : undefined;
    const type = fields?.entries.get('type')?.value;
    const path = fields?.entries.get('path')?.value;
    const typeName = type && toPlain(type);
    if (typeName === MODULES.transformer) continue;
    if (typeName === MODULES.normalize) {
      normalize = true;
      continue;
    }
    if (typeName !== MODULES.pooling || !path || typeof toPlain(path) !== 'string') {
      bag.error((type ?? item).loc, `module ${JSON.stringify(typeName ?? null)} is not supported; tcc builds ${Object.values(MODULES).join(', ')}`);
      continue;
    }
    const configFile = join(dir, String(toPlain(path)), 'config.json');
    const config = readLocated(configFile, bag, sources);
    if (!config || config.kind !== 'map') {
      bag.error((config ?? path).loc, `the Pooling module needs ${configFile} (a JSON object)`);
      continue;
    }
    const modes: string[] = [];
    for (const [key, { keyLoc, value }] of config.entries) {
      const v = toPlain(value);
      if (own(POOLING_MODES, key)) {
        if (v === true) modes.push(POOLING_MODES[key]!);
      } else if (POOLING_REFUSED.includes(key)) {
        if (v !== false) bag.error(value.loc, `${key} ${JSON.stringify(v)} is not supported; tcc pools by ${Object.keys(POOLING_MODES).join(', ')}`);
      } else if (key === 'word_embedding_dimension') {
        if (hidden !== undefined && v !== hidden) bag.error(value.loc, `word_embedding_dimension ${JSON.stringify(v)} is not the model's hidden size ${JSON.stringify(hidden)}`);
      } else if (key === 'include_prompt') {
        if (v !== true) bag.error(value.loc, "include_prompt false is not supported (the prompt's tokens are pooled)");
      } else bag.error(keyLoc, `pooling setting '${key}' is not supported`);
    }
    if (modes.length !== 1) bag.error(config.loc, `exactly one pooling mode must be true, got ${modes.length ? modes.join(' and ') : 'none'}`);
    pooling = modes[0];
  }
  if (!pooling) {
    if (!bag.size) bag.error(modules.loc, 'modules.json has no Pooling module');
    return undefined;
  }
  return {
    body: {
      sentence_pooled: { op: pooling, in: ['sequence', 'attention_mask'] },
      sentence_embedding: { op: normalize ? 'l2_normalize' : 'no_normalization', in: 'sentence_pooled' },
    },
    outputs: { sentence_embedding: 'sentence_embedding' },
  };
}

export interface ImportedSpec {
  /** The spec's YAML text. */
  readonly yaml: string;
  readonly architecture: string;
}

/** A model directory's name: its own, or for a snapshot of the HuggingFace cache (models--ORG--NAME/snapshots/COMMIT) the repository's. */
function modelName(dir: string): string {
  const snapshot = /models--([^/\\]+)[/\\]snapshots[/\\][0-9a-f]{40}[/\\]?$/.exec(resolve(dir));
  return snapshot ? snapshot[1]!.replace('--', '/') : basename(resolve(dir));
}

/** Reads DIR/config.json and writes the equivalent spec; unsupported settings are located diagnostics. */
export function importHfConfig(dir: string): ImportedSpec {
  const file = join(dir, 'config.json');
  const bag = new DiagnosticBag();
  let text: string;
  try {
    text = readSpecText(file);
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CompileError([{ message: `cannot read '${file}': ${missing ? 'a HuggingFace model directory needs config.json' : (e as Error).message}` }]);
  }
  const sources = new Map([[file, text]]);
  const root = parseJson(text, file, bag);
  if (!root || root.kind !== 'map') {
    if (root) bag.error(root.loc, 'config.json must be a JSON object');
    throw new CompileError(bag.items, sources);
  }
  const entry = (key: string): LNode | undefined => (root as LMap).entries.get(key)?.value;
  const value = (key: string): unknown => {
    const node = entry(key);
    return node ? toPlain(node) : undefined;
  };

  const architectures = value('architectures');
  const named = Array.isArray(architectures) && typeof architectures[0] === 'string' ? architectures[0] : undefined;
  // JinaBERT's config.json says model_type 'bert'; its classes say which it is.
  const modelType = named?.startsWith('JinaBert') ? 'jina_bert' : (value('model_type') ?? familyOfArchitecture(named));
  const family = typeof modelType === 'string' && own(FAMILIES, modelType) ? FAMILIES[modelType]! : undefined;
  if (!family) bag.error(entry('model_type')!.loc, `model_type '${String(modelType)}' is not supported; tcc imports ${Object.keys(FAMILIES).filter((t) => t !== 'jina_bert').map((t) => `'${t}'`).join(', ')} (and JinaBERT, by its classes)`);
  const arch = named ?? Object.keys(family?.architectures ?? BERT.architectures).find((a) => a.endsWith('Model'))!;
  const id2label = value('id2label');
  const numLabels = typeof value('num_labels') === 'number' ? (value('num_labels') as number) : id2label && typeof id2label === 'object' ? Object.keys(id2label).length : 2;
  const heads = family && own(family.architectures, arch) ? family.architectures[arch]! : undefined;
  if (family && !heads) bag.error(entry('architectures')?.loc, `architecture '${arch}' is not supported for model_type '${String(modelType)}'; supported: ${Object.keys(family.architectures).join(', ')}`);
  const overrides = heads?.(numLabels, value) ?? {};
  // config.json's key for each spec key, and back.
  const keys: Readonly<Record<string, string>> = family?.keys ?? { ...same(CARRIED), hidden_act: 'hidden_act' };
  const hfKey = (specKey: string) => Object.keys(keys).find((k) => keys[k] === specKey) ?? specKey;
  const embedding = sentenceEmbedding(dir, value(hfKey('hidden_size')), bag, sources);
  if (embedding) {
    const model = (overrides as { model?: { body?: object; outputs?: object } }).model ?? {};
    Object.assign(overrides, { model: { ...model, body: { ...model.body, ...(embedding as { body: object }).body }, outputs: { ...model.outputs, ...(embedding as { outputs: object }).outputs } } });
  }
  const required = { ...REQUIRED, ...family?.required };
  const checked = new Set<string>([...Object.keys(keys), 'position_embedding_type', 'id2label', 'num_labels', ...(family?.ignored ?? []), ...(family?.derived ?? [])]);
  for (const [key, { value: node }] of root.entries) {
    if (checked.has(key) || IGNORED.has(key)) continue;
    if (Object.hasOwn(required, key)) {
      const v = toPlain(node);
      if (JSON.stringify(v) !== JSON.stringify(required[key])) bag.error(node.loc, `${key} ${JSON.stringify(v)} is not supported (tcc builds ${JSON.stringify(required[key])})`);
      continue;
    }
    bag.error(root.entries.get(key)!.keyLoc, `config field '${key}' is not supported for model_type '${String(modelType)}'`);
  }
  const position = value('position_embedding_type');
  const positions = family?.positions ?? 'absolute';
  if (position !== undefined && position !== positions) bag.error(entry('position_embedding_type')!.loc, `position_embedding_type '${String(position)}' is not supported (only '${positions}')`);
  const actKey = hfKey('hidden_act');
  const act = value(actKey);
  if (act !== undefined && !(typeof act === 'string' && own(ACTIVATIONS, act))) bag.error(entry(actKey)!.loc, `${actKey} '${String(act)}' is not supported; supported: ${Object.keys(ACTIVATIONS).join(', ')}`);
  // Sizes are checked here, at config.json's lines (the schema would point into the spec written from it).
  // A BERT of HuggingFace's has a token type table, so at least one row (a spec of tcc's may leave it out with 0).
  const sizes: [string, readonly [number, number]][] = [...Object.entries({ ...CONFIG_LIMITS, type_vocab_size: [1, CONFIG_LIMITS.type_vocab_size[1]] as const }), ['num_labels', MAX_LABELS]];
  for (const [specKey, [min, max]] of sizes) {
    const key = hfKey(specKey);
    const v = value(key);
    if (v !== undefined && !(Number.isInteger(v) && (v as number) >= min && (v as number) <= max)) bag.error(entry(key)!.loc, `${key} must be an integer from ${min} to ${max.toLocaleString('en-US')}, got ${JSON.stringify(v)}`);
  }
  if (id2label !== undefined && (typeof id2label !== 'object' || id2label === null || Object.keys(id2label).length > MAX_LABELS[1])) bag.error(entry('id2label')!.loc, `id2label must be an object of at most ${MAX_LABELS[1].toLocaleString('en-US')} labels`);
  if (bag.size) throw new CompileError(bag.items, sources);

  const words = family?.values ?? {};
  for (const [key, table] of Object.entries(words)) {
    const v = value(key);
    if (v !== undefined && !(typeof v === 'string' && Object.hasOwn(table, v))) bag.error(entry(key)!.loc, `${key} ${JSON.stringify(v)} is not supported; supported: ${Object.keys(table).join(', ')}`);
  }
  if (bag.size) throw new CompileError(bag.items, sources);
  const derived = family?.derive?.(entry, (node, message) => bag.error(node.loc, message)) ?? {};
  if (bag.size) throw new CompileError(bag.items, sources);
  const config: Record<string, unknown> = { ...family?.defaults, ...derived };
  for (const [key, specKey] of Object.entries(keys)) {
    const v = value(key);
    if (specKey !== 'hidden_act' && v !== undefined && v !== null) config[specKey] = Object.hasOwn(words, key) ? words[key]![v as string] : v;
  }
  if (typeof act === 'string' && own(ACTIVATIONS, act)) config.hidden_act = ACTIVATIONS[act];
  const spec = { name: modelName(dir), extends: family?.spec ?? BERT.spec, config, ...overrides };
  const yaml = `# Imported from ${file} (${arch}) by tcc import-hf.\n${stringify(spec, { lineWidth: 0 })}`;
  return { yaml, architecture: arch };
}

/**
 * An error found in the spec written from a config.json (a type the schema
 * refuses, a failed `requires` check) is moved to the config.json line of the
 * key it is about: the user's file, not text they never saw.
 */
export function locateInConfig(e: CompileError): CompileError {
  const sources = new Map(e.sources);
  let moved = false;
  const diagnostics = e.diagnostics.map((d) => {
    const generated = d.loc && e.sources.get(d.loc.file);
    if (!d.loc || generated === undefined || !isHfDirectory(d.loc.file)) return d;
    const file = join(d.loc.file, 'config.json');
    let text: string;
    try {
      text = readSpecText(file);
    } catch {
      return d;
    }
    sources.set(file, text);
    moved = true;
    const key = /^\s*([A-Za-z_]\w*):/.exec(generated.split('\n')[d.loc.line - 1] ?? '')?.[1];
    const root = parseJson(text, file, new DiagnosticBag());
    const entry = key !== undefined && root?.kind === 'map' ? root.entries.get(key) : undefined;
    return { ...d, loc: entry?.value.loc ?? { file, line: 1, col: 1, endLine: 1, endCol: 2 } };
  });
  return moved ? new CompileError(diagnostics, sources) : e;
}
