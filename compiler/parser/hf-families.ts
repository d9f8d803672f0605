// The families of HuggingFace models that tcc imports, as data: for each
// model_type, the shipped spec its imports extend, the overrides of that spec
// per architecture (heads, pooler), config.json's keys under the spec's
// names, the fields that must hold what tcc builds and those with no effect
// on a model built from a checkpoint. importHfConfig (hf-config.ts) reads a
// config.json through this table: every field mapped, required, listed or
// refused at its line.

import { toPlain, type LNode } from './yaml.js';

/** Config keys carried over as they are (HuggingFace's names are the spec's). */
export const CARRIED = [
  'vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'max_position_embeddings',
  'type_vocab_size', 'hidden_dropout_prob', 'attention_probs_dropout_prob', 'layer_norm_eps', 'initializer_range', 'pad_token_id',
] as const;

export const ACTIVATIONS: Readonly<Record<string, string>> = { gelu: 'gelu', gelu_new: 'gelu_tanh', gelu_pytorch_tanh: 'gelu_tanh', relu: 'relu' };

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
export interface Family {
  readonly spec: string;
  readonly architectures: Readonly<Record<string, Heads>>;
  /** config.json keys carried into the spec under the spec's name for them (HuggingFace's BERT names are the spec's). */
  readonly keys?: Readonly<Record<string, string>>;
  /** Spec config values the family's config.json may leave out (and its heads read where the shipped spec has none of them). */
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

export const same = (keys: readonly string[]) => Object.fromEntries(keys.map((k) => [k, k]));

export const BERT: Family = {
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
  const value = (key: string, fallback: unknown) => {
    const node = entry(key);
    return node ? toPlain(node) : fallback;
  };
  if (value('local_rope_theta', undefined) === null) out.local_rope_theta = value('global_rope_theta', 160000);
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
    const every = value('global_attn_every_n_layers', 3) as number;
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
      'embedding_dropout', 'attention_dropout', 'mlp_dropout', 'classifier_dropout', 'classifier_pooling']),
    norm_eps: 'layer_norm_eps', hidden_activation: 'hidden_act', classifier_activation: 'classifier_act',
  },
  values: { classifier_activation: { gelu: 'gelu', gelu_new: 'gelu_tanh', gelu_pytorch_tanh: 'gelu_tanh', relu: 'relu', silu: 'silu' }, classifier_pooling: { mean: 'mean', cls: 'cls' } },
  defaults: { classifier_dropout: 0.0 },
  required: { decoder_bias: true, sparse_prediction: false },
  derive: modernbertLayout,
  derived: ['rope_parameters', 'layer_types'],
  // Token ids, how HuggingFace runs or initializes it (flash attention, torch.compile, its truncated normal), and the
  // layer_norm_eps that transformers 5 writes beside norm_eps.
  ignored: [
    'pad_token_id', 'cls_token_id', 'deterministic_flash_attn', 'reference_compile', 'repad_logits_with_grad', 'initializer_cutoff_factor',
    'sparse_pred_ignore_index', 'layer_norm_eps',
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
export const FAMILIES: Readonly<Record<string, Family>> = {
  bert: BERT, roberta: robertaFamily('Roberta'), 'xlm-roberta': robertaFamily('XLMRoberta'), distilbert: DISTILBERT, albert: ALBERT, electra: ELECTRA,
  nomic_bert: NOMIC_BERT, modernbert: MODERNBERT,
  // Not a model_type of its own: chosen by its classes (JinaBert…).
  jina_bert: JINA_BERT,
};

/** The family of a config.json: JinaBERT's says model_type 'bert' and is told apart by its classes; an old one without model_type, by its architecture. */
export function familyType(modelType: unknown, architecture: string | undefined): unknown {
  return architecture?.startsWith('JinaBert') ? 'jina_bert' : (modelType ?? familyOfArchitecture(architecture));
}

/** A config.json without model_type (written by old transformers): the family its architecture names. */
export function familyOfArchitecture(arch: string | undefined): string {
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
export const IGNORED = new Set([
  '_name_or_path', 'transformers_version', 'torch_dtype', 'dtype', 'use_cache', 'output_past', 'bos_token_id', 'eos_token_id', 'sep_token_id',
  'problem_type', 'finetuning_task', 'output_attentions', 'output_hidden_states', 'torchscript', 'gradient_checkpointing', 'return_dict',
  'use_bfloat16', 'tf_legacy_loss', 'prefix', 'tokenizer_class', 'task_specific_params', 'label2id', 'max_length', 'min_length', 'do_sample',
  'early_stopping', 'num_beams', 'num_beam_groups', 'diversity_penalty', 'temperature', 'top_k', 'top_p', 'typical_p', 'repetition_penalty',
  'length_penalty', 'no_repeat_ngram_size', 'encoder_no_repeat_ngram_size', 'bad_words_ids', 'num_return_sequences', 'output_scores',
  'return_dict_in_generate', 'forced_bos_token_id', 'forced_eos_token_id', 'remove_invalid_values', 'exponential_decay_length_penalty',
  'suppress_tokens', 'begin_suppress_tokens', 'decoder_start_token_id', 'cross_attention_hidden_size', 'chunk_size_feed_forward', 'model_type', 'architectures',
]);

/** Fields that HuggingFace allows but that would change the model, with the value tcc builds (anything else is refused). */
export const REQUIRED: Readonly<Record<string, unknown>> = {
  is_decoder: false, add_cross_attention: false, tie_word_embeddings: true, is_encoder_decoder: false, classifier_dropout: null, pruned_heads: {},
  // tcc's own setting, which its exports write: HuggingFace's models are post-LN.
  norm_placement: 'post',
};
