// HuggingFace directories of each family tcc imports, against a PyTorch
// reference written from HuggingFace's modeling code (test/reference/
// hf_family.py, which shares nothing with tcc): a checkpoint with HuggingFace's
// names and odd sizes, a batch with padding, every output of every
// architecture within 1e-4, on the JavaScript, native and WebGPU backends.
// And back: the config.json that `tcc export --format hf` writes for each
// imported model gives the reference the same outputs.

import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { buildProgram } from '../../compiler/program.js';
import { openSession } from '../../runtime/session.js';
import { matchWeights } from '../../runtime/weights.js';
import { hfConfigOf } from '../../compiler/export/hf-config.js';
import { readSafetensors, writeSafetensors } from '../../runtime/safetensors.js';
import { tcc } from '../helpers/cli.js';
import { randomCheckpoint } from '../helpers/programs.js';
import { rng } from '../helpers/random.js';
import { hasWebGpu } from '../helpers/webgpu.js';

const python = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
const REFERENCE = join(process.cwd(), 'test', 'reference', 'hf_family.py');

/** Odd sizes: 3 heads of 8, an intermediate size that is no multiple of anything, a vocabulary of 53. */
const SIZES = { hidden_size: 24, num_hidden_layers: 2, num_attention_heads: 3, intermediate_size: 37, vocab_size: 53, hidden_act: 'gelu', hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1 };

interface Case {
  readonly name: string;
  readonly config: Record<string, unknown>;
  /** Token type ids in the inputs (RoBERTa's tokenizers give none). */
  readonly types: boolean;
  readonly pad: number;
  /**
   * Outputs compared at real tokens only: where every key a padding query may see in a local window is padding,
   * HuggingFace replaces the scores (a uniform row over all keys) and tcc adds a large negative (the real keys
   * outside the window): values no real token reads.
   */
  readonly realRows?: boolean;
}

const roberta = (arch: string, type = 'roberta'): Case => ({
  name: arch,
  config: { ...SIZES, architectures: [arch], model_type: type, max_position_embeddings: 12, type_vocab_size: 1, layer_norm_eps: 1e-5, pad_token_id: 1, bos_token_id: 0, eos_token_id: 2, num_labels: 3, transformers_version: '4.37.2' },
  types: false,
  pad: 1,
});
const bert = (arch: string): Case => ({
  name: arch,
  config: { ...SIZES, architectures: [arch], model_type: 'bert', max_position_embeddings: 10, type_vocab_size: 2, layer_norm_eps: 1e-12, pad_token_id: 0, num_labels: 3 },
  types: true,
  pad: 0,
});

const distilbert = (arch: string): Case => ({
  name: arch,
  config: {
    architectures: [arch], model_type: 'distilbert', activation: 'gelu', dim: 24, n_layers: 2, n_heads: 3, hidden_dim: 37, vocab_size: 53, max_position_embeddings: 10,
    dropout: 0.1, attention_dropout: 0.1, qa_dropout: 0.1, seq_classif_dropout: 0.2, sinusoidal_pos_embds: false, tie_weights_: true, pad_token_id: 0, initializer_range: 0.02, num_labels: 3,
  },
  types: false,
  pad: 0,
});

const albert = (arch: string): Case => ({
  name: arch,
  config: {
    ...SIZES, hidden_act: 'gelu_new', architectures: [arch], model_type: 'albert', embedding_size: 10, max_position_embeddings: 10, type_vocab_size: 2, layer_norm_eps: 1e-12,
    num_hidden_groups: 1, inner_group_num: 1, classifier_dropout_prob: 0.1, pad_token_id: 0, bos_token_id: 2, eos_token_id: 3, num_labels: 3, position_embedding_type: 'absolute',
  },
  types: true,
  pad: 0,
});

const electra = (arch: string, embedding = 10): Case => ({
  name: `${arch}${embedding === SIZES.hidden_size ? ' (no projection)' : ''}`,
  config: { ...SIZES, architectures: [arch], model_type: 'electra', embedding_size: embedding, max_position_embeddings: 10, type_vocab_size: 2, layer_norm_eps: 1e-12, pad_token_id: 0, num_labels: 3, summary_type: 'first', classifier_dropout: null },
  types: true,
  pad: 0,
});

const nomic = (arch: string, extra: Record<string, unknown>): Case => ({
  name: `${arch} (${extra.activation_function})`,
  config: {
    architectures: [arch], model_type: 'nomic_bert', n_embd: 24, n_head: 3, n_layer: 2, n_inner: 37, vocab_size: 53, n_positions: 64, type_vocab_size: 2, layer_norm_epsilon: 1e-12,
    rotary_emb_base: 1000, rotary_emb_interleaved: false, rotary_emb_scale_base: null, rotary_scaling_factor: null, prenorm: false, causal: false, resid_pdrop: 0, attn_pdrop: 0, embd_pdrop: 0,
    use_flash_attn: true, fused_bias_fc: true, pad_vocab_size_multiple: 1, ...extra,
  },
  types: true,
  pad: 0,
});

const modernbert = (arch: string, extra: Record<string, unknown> = {}): Case => ({
  name: `${arch}${extra.norm_bias ? ' (biases)' : ''}`,
  config: {
    architectures: [arch], model_type: 'modernbert', hidden_size: 24, num_hidden_layers: 4, num_attention_heads: 3, intermediate_size: 37, vocab_size: 53, max_position_embeddings: 64,
    hidden_activation: 'gelu', classifier_activation: 'gelu', norm_eps: 1e-5, global_rope_theta: 1000.0, local_rope_theta: 100.0, local_attention: 4, global_attn_every_n_layers: 3,
    attention_bias: false, mlp_bias: false, norm_bias: false, classifier_bias: false, decoder_bias: true, embedding_dropout: 0, attention_dropout: 0, mlp_dropout: 0, classifier_dropout: 0,
    classifier_pooling: 'mean', pad_token_id: 0, num_labels: 3, sparse_prediction: false, ...extra,
  },
  types: false,
  pad: 0,
  realRows: true,
});

const jina = (arch: string, heads = 3): Case => ({
  name: `${arch} (${heads} heads)`,
  config: { ...bert(arch).config, model_type: 'bert', num_attention_heads: heads, hidden_size: heads * 8, position_embedding_type: 'alibi', feed_forward_type: 'geglu', emb_pooler: 'mean' },
  types: true,
  pad: 0,
});

const CASES: readonly Case[] = [
  roberta('RobertaForMaskedLM'),
  roberta('RobertaModel'),
  roberta('RobertaForSequenceClassification'),
  roberta('RobertaForTokenClassification'),
  roberta('RobertaForQuestionAnswering'),
  roberta('XLMRobertaForSequenceClassification', 'xlm-roberta'),
  bert('BertForPreTraining'),
  bert('BertForQuestionAnswering'),
  distilbert('DistilBertForMaskedLM'),
  distilbert('DistilBertModel'),
  distilbert('DistilBertForSequenceClassification'),
  distilbert('DistilBertForTokenClassification'),
  distilbert('DistilBertForQuestionAnswering'),
  albert('AlbertForPreTraining'),
  albert('AlbertModel'),
  albert('AlbertForMaskedLM'),
  albert('AlbertForSequenceClassification'),
  albert('AlbertForTokenClassification'),
  albert('AlbertForQuestionAnswering'),
  electra('ElectraForPreTraining'),
  electra('ElectraForPreTraining', SIZES.hidden_size),
  electra('ElectraForMaskedLM'),
  electra('ElectraModel'),
  electra('ElectraForSequenceClassification'),
  electra('ElectraForTokenClassification'),
  electra('ElectraForQuestionAnswering'),
  // Partial rotation (half of each head), biases everywhere; and the whole head turned, no biases, GeGLU.
  nomic('NomicBertModel', { activation_function: 'swiglu', rotary_emb_fraction: 0.5, qkv_proj_bias: true, mlp_fc1_bias: true, mlp_fc2_bias: true }),
  nomic('NomicBertForPreTraining', { activation_function: 'geglu', rotary_emb_fraction: 1.0, qkv_proj_bias: false, mlp_fc1_bias: false, mlp_fc2_bias: false }),
  // Layers 0 and 3 global, 1 and 2 within 4 tokens, each with its own rotary base.
  modernbert('ModernBertForMaskedLM'),
  modernbert('ModernBertModel', { attention_bias: true, mlp_bias: true, norm_bias: true, classifier_bias: true }),
  modernbert('ModernBertForSequenceClassification'),
  modernbert('ModernBertForTokenClassification', { classifier_bias: true }),
  // Slopes of 3 heads (no power of two: 2's slopes, then every other of 4's) and of 4.
  jina('JinaBertForMaskedLM'),
  jina('JinaBertModel', 4),
  jina('JinaBertForSequenceClassification'),
];

/** Backends each case runs on: every architecture on JavaScript, two of each family on the compiled backends. */
const BACKENDS: Readonly<Record<string, readonly string[]>> = { js: CASES.map((c) => c.name), native: ['RobertaForMaskedLM', 'RobertaForSequenceClassification', 'BertForPreTraining', 'DistilBertForMaskedLM', 'AlbertForPreTraining', 'ElectraForPreTraining', 'NomicBertModel (swiglu)', 'ModernBertForMaskedLM', 'JinaBertForMaskedLM (3 heads)'], webgpu: ['RobertaForMaskedLM', 'RobertaForSequenceClassification', 'DistilBertForSequenceClassification', 'AlbertForPreTraining', 'ElectraForMaskedLM', 'NomicBertForPreTraining (geglu)', 'ModernBertForSequenceClassification', 'JinaBertModel (4 heads)'] };

const [batch, seq] = [3, 7];

/** A batch with padding at the end of two rows, ids drawn above the special ones. */
function inputs(c: Case): Record<string, number[][]> {
  const next = rng(11);
  const lengths = [7, 4, 2];
  const ids = lengths.map((n) => Array.from({ length: seq }, (_, s) => (s === 0 ? 2 : s < n ? 3 + Math.floor(next() * 50) : c.pad)));
  const mask = lengths.map((n) => Array.from({ length: seq }, (_, s) => (s < n ? 1 : 0)));
  const out: Record<string, number[][]> = { input_ids: ids, attention_mask: mask };
  if (c.types) out.token_type_ids = lengths.map((n) => Array.from({ length: seq }, (_, s) => (s >= n / 2 && s < n ? 1 : 0)));
  return out;
}

/** A checkpoint for the directory with HuggingFace's names, and the tied decoder's copy that HuggingFace writes beside them. */
function writeCheckpoint(dir: string, seed: number): void {
  const tensors = randomCheckpoint(compileFile(dir, { batch: 1, seq: 4 }).graph, seed, 0.8);
  const words = Object.keys(tensors).find((n) => n.endsWith('embeddings.word_embeddings.weight'))!;
  if ('lm_head.bias' in tensors) tensors['lm_head.decoder.weight'] = tensors[words]!;
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(tensors));
}

/** `tcc run` on the directory's inputs.json: every output, by name. */
async function runByCli(dir: string, backend: string): Promise<ReadonlyMap<string, { readonly shape: readonly number[]; readonly data: ArrayLike<number> }>> {
  const out = join(dir, `${backend}.safetensors`);
  const result = await tcc('run', '--model', dir, '--inputs', join(dir, 'inputs.json'), '--out', out, '--backend', backend);
  expect(result.code, result.stderr).toBe(0);
  return readSafetensors(readFileSync(out)).tensors;
}

/** The same program run in this process on the JavaScript backend (as `tcc run` compiles and loads it, without a process per case). */
async function runHere(dir: string): Promise<ReadonlyMap<string, { readonly shape: readonly number[]; readonly data: ArrayLike<number> }>> {
  const compiled = buildProgram(compileFile(dir, { batch, seq }).graph);
  const session = await openSession(compiled, { backend: 'js' });
  try {
    session.setParams(matchWeights(compiled.program.params, readSafetensors(readFileSync(join(dir, 'model.safetensors'))).tensors, 'model.safetensors').values);
    const inputs = JSON.parse(readFileSync(join(dir, 'inputs.json'), 'utf8')) as Record<string, number[][]>;
    // Token type ids the inputs leave out are 0, as tcc run makes them.
    const feeds = Object.fromEntries(compiled.program.inputs.map((i) => [i.name, inputs[i.name] ? Int32Array.from(inputs[i.name]!.flat()) : new Int32Array(batch * seq)]));
    const outputs = await session.run(feeds, undefined, compiled.program.outputs.map((o) => o.name));
    return new Map(compiled.program.outputs.map((o) => [o.name, { shape: o.shape, data: outputs[o.name]!.data }]));
  } finally {
    session.destroy();
  }
}

describe.skipIf(!python)('HuggingFace families against a PyTorch reference from their modeling code', () => {
  const root = mkdtempSync(join(tmpdir(), 'tcc-family-'));
  const want = new Map<string, Record<string, number[]>>();
  let webgpu = false;

  beforeAll(async () => {
    webgpu = await hasWebGpu();
    const jobs: string[] = [];
    CASES.forEach((c, k) => {
      const dir = join(root, c.name);
      mkdirSync(dir);
      writeFileSync(join(dir, 'config.json'), JSON.stringify(c.config, null, 2));
      writeCheckpoint(dir, k + 1);
      writeFileSync(join(dir, 'inputs.json'), JSON.stringify(inputs(c)));
      jobs.push(dir, join(dir, 'inputs.json'), join(dir, 'reference.json'));
    });
    const run = spawnSync(python!, [REFERENCE, ...jobs], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`the reference failed:\n${run.stderr}`);
    for (const c of CASES) {
      const outputs = JSON.parse(readFileSync(join(root, c.name, 'reference.json'), 'utf8')) as Record<string, unknown[]>;
      want.set(c.name, Object.fromEntries(Object.entries(outputs).map(([name, v]) => [name, (v.flat(3) as number[])])));
    }
  }, 120_000);

  for (const [backend, names] of Object.entries(BACKENDS)) {
    it.each(names)(`%s on ${backend}`, async (name) => {
      if (backend === 'webgpu' && !webgpu) return;
      const dir = join(root, name);
      const got = backend === 'js' ? await runHere(dir) : await runByCli(dir, backend);
      const expected = want.get(name)!;
      const c = CASES.find((k) => k.name === name)!;
      const mask = inputs(c).attention_mask!.flat();
      expect([...got.keys()].sort()).toEqual(Object.keys(expected).sort());
      for (const [output, values] of Object.entries(expected)) {
        const data = got.get(output)!.data;
        expect(data.length, output).toBe(values.length);
        // Per-token outputs ([batch, seq, …]) at real tokens only where the case says so.
        const perToken = got.get(output)!.shape.length >= 2 && got.get(output)!.shape[1] === seq;
        const width = values.length / (batch * seq);
        let worst = 0;
        for (let i = 0; i < values.length; i++) {
          if (c.realRows && perToken && !mask[Math.floor(i / width)]) continue;
          worst = Math.max(worst, Math.abs(data[i]! - values[i]!));
        }
        expect(worst, `${name} ${output} on ${backend}`).toBeLessThan(1e-4);
      }
    });
  }

  it("writes each family's config.json back (export --format hf): the reference reads it as the same model", () => {
    const jobs: string[] = [];
    for (const c of CASES) {
      const [from, dir] = [join(root, c.name), join(root, `${c.name} exported`)];
      mkdirSync(dir);
      const { spec, graph } = compileFile(from, { batch: 1, seq: 4, fuse: false });
      writeFileSync(join(dir, 'config.json'), JSON.stringify(hfConfigOf(spec, graph), null, 2));
      copyFileSync(join(from, 'model.safetensors'), join(dir, 'model.safetensors'));
      jobs.push(dir, join(from, 'inputs.json'), join(dir, 'reference.json'));
    }
    const run = spawnSync(python!, [REFERENCE, ...jobs], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    for (const c of CASES) {
      const config = JSON.parse(readFileSync(join(root, `${c.name} exported`, 'config.json'), 'utf8')) as { architectures: string[]; model_type: string };
      expect([config.architectures[0], config.model_type], c.name).toEqual([(c.config.architectures as string[])[0], c.config.model_type]);
      const outputs = JSON.parse(readFileSync(join(root, `${c.name} exported`, 'reference.json'), 'utf8')) as Record<string, unknown[]>;
      const expected = want.get(c.name)!;
      expect(Object.keys(outputs).sort(), c.name).toEqual(Object.keys(expected).sort());
      for (const [name, values] of Object.entries(outputs)) expect(values.flat(3), `${c.name} ${name}`).toEqual(expected[name]);
    }
  }, 120_000);
});
