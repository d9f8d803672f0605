// The benchmarks' TensorFlow.js peer: BertModel (encoder and pooler) written
// with TensorFlow.js ops, run by @tensorflow/tfjs-backend-webgpu on the same
// adapter or by @tensorflow/tfjs-backend-wasm, with tcc's weights
// (HuggingFace names, Linear weights [out, in]).

import type * as TF from '@tensorflow/tfjs-core';

type Tf = typeof TF;

export interface BertShape {
  readonly layers: number;
  readonly heads: number;
  readonly hidden: number;
}

/** Loads tfjs-core with the WebGPU backend on `gpu` (Dawn's in Node). */
export async function tfjsWebGpu(gpu: GPU): Promise<Tf> {
  const g = globalThis as { navigator?: unknown };
  g.navigator ??= { gpu, userAgent: 'node' };
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs'); // registers the gradients (tfjs-core alone has none)
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not start its WebGPU backend');
  return tf;
}

/** Loads tfjs-core with its wasm backend (SIMD; in Node, one thread). */
export async function tfjsWasm(): Promise<Tf> {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-wasm');
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs could not start its wasm backend');
  return tf;
}

type Weights = Readonly<Record<string, TF.Tensor>>;

/** BertModel's forward pass over weights named as HuggingFace does (without the "bert." prefix): ids, types, mask → (hidden states, pooled). */
function encoder(tf: Tf, w: Weights, config: BertShape) {
  const { layers, heads, hidden } = config;
  const size = hidden / heads;
  const ops = {
    // Rows flattened to 2-D: tfjs's batched-matmul gradient does not broadcast a 2-D weight.
    linear: (x: TF.Tensor, name: string) => {
      const weight = w[`${name}.weight`]!;
      const rows = tf.reshape(x, [-1, x.shape[x.shape.length - 1]!]);
      return tf.reshape(tf.add(tf.matMul(rows, weight, false, true), w[`${name}.bias`]!), [...x.shape.slice(0, -1), weight.shape[0]!]);
    },
    layerNorm: (x: TF.Tensor, name: string) => {
      const { mean, variance } = tf.moments(x, -1, true);
      return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-12))), w[`${name}.weight`]!), w[`${name}.bias`]!);
    },
    gelu: (x: TF.Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)),
  };
  const { linear, layerNorm, gelu } = ops;
  const encode = (ids: TF.Tensor2D, types: TF.Tensor2D, mask: TF.Tensor2D): [TF.Tensor, TF.Tensor] => {
    const [batch, seq] = ids.shape;
    const positions = tf.range(0, seq, 1, 'int32');
    let x = tf.add(tf.add(tf.gather(w['embeddings.word_embeddings.weight']!, ids), tf.gather(w['embeddings.token_type_embeddings.weight']!, types)), tf.gather(w['embeddings.position_embeddings.weight']!, positions));
    x = layerNorm(x, 'embeddings.LayerNorm');
    const bias = tf.reshape(tf.mul(tf.sub(tf.cast(mask, 'float32'), 1), 3.4028234663852886e38), [batch, 1, 1, seq]);
    const split = (t: TF.Tensor) => tf.transpose(tf.reshape(t, [batch, seq, heads, size]), [0, 2, 1, 3]);
    for (let l = 0; l < layers; l++) {
      const at = `encoder.layer.${l}`;
      const [q, k, v] = ['query', 'key', 'value'].map((n) => split(linear(x, `${at}.attention.self.${n}`)));
      const scores = tf.add(tf.mul(tf.matMul(q!, k!, false, true), 1 / Math.sqrt(size)), bias);
      const context = tf.reshape(tf.transpose(tf.matMul(tf.softmax(scores), v!), [0, 2, 1, 3]), [batch, seq, hidden]);
      x = layerNorm(tf.add(linear(context, `${at}.attention.output.dense`), x), `${at}.attention.output.LayerNorm`);
      const inner = gelu(linear(x, `${at}.intermediate.dense`));
      x = layerNorm(tf.add(linear(inner, `${at}.output.dense`), x), `${at}.output.LayerNorm`);
    }
    const first = tf.reshape(tf.slice(x, [0, 0, 0], [batch, 1, hidden]), [batch, hidden]);
    return [x, tf.tanh(linear(first, 'pooler.dense'))];
  };
  return { encode, ...ops };
}

const upload = (tf: Tf, params: Readonly<Record<string, Float32Array>>, shapes: Readonly<Record<string, readonly number[]>>, make: (t: TF.Tensor) => TF.Tensor) =>
  Object.fromEntries(Object.entries(params).map(([name, data]) => [name.replace(/^bert\./, ''), make(tf.tensor(data, [...shapes[name]!]))]));

/** A forward function over uploaded weights: ids, types, mask [batch, seq] → (last hidden state, pooled). */
export function tfjsBert(tf: Tf, params: Readonly<Record<string, Float32Array>>, shapes: Readonly<Record<string, readonly number[]>>, config: BertShape) {
  const { encode } = encoder(tf, upload(tf, params, shapes, (t) => t), config);
  return (ids: TF.Tensor2D, types: TF.Tensor2D, mask: TF.Tensor2D): [TF.Tensor, TF.Tensor] => tf.tidy(() => encode(ids, types, mask));
}

/**
 * One forward pass of `forward` on a batch of one sequence per call: the
 * inputs uploaded once, the outputs read back (what a run costs a user).
 */
export function tfjsRunner(tf: Tf, forward: ReturnType<typeof tfjsBert>, inputs: { readonly input_ids: Int32Array; readonly token_type_ids: Int32Array; readonly attention_mask: Int32Array }, seq: number) {
  const [ids, types, mask] = [inputs.input_ids, inputs.token_type_ids, inputs.attention_mask].map((data) => tf.tensor2d(data, [data.length / seq, seq], 'int32')) as [TF.Tensor2D, TF.Tensor2D, TF.Tensor2D];
  return async (): Promise<[Float32Array, Float32Array]> => {
    const [hidden, pooled] = forward(ids, types, mask);
    const data = (await Promise.all([hidden.data(), pooled.data()])) as [Float32Array, Float32Array];
    tf.dispose([hidden, pooled]);
    return data;
  };
}

export interface PretrainBatch {
  readonly input_ids: Int32Array;
  readonly token_type_ids: Int32Array;
  readonly attention_mask: Int32Array;
  /** Masked-LM targets, -100 where nothing is predicted. */
  readonly labels: Int32Array;
  readonly next_sentence_label: Int32Array;
}

/**
 * One pretraining step (BertForPreTraining: masked LM with the decoder tied to
 * the word embeddings, and next-sentence prediction) with tfjs's Adam; resolves
 * to the loss once the step is done.
 */
export function tfjsPretrainer(tf: Tf, params: Readonly<Record<string, Float32Array>>, shapes: Readonly<Record<string, readonly number[]>>, config: BertShape, batch: number, seq: number) {
  const w = upload(tf, params, shapes, (t) => tf.variable(t));
  const { encode, linear, layerNorm, gelu } = encoder(tf, w, config);
  const optimizer = tf.train.adam(1e-4, 0.9, 0.999, 1e-6);
  /** Mean cross-entropy over the rows whose label is not -100. */
  const crossEntropy = (logits: TF.Tensor2D, labels: TF.Tensor1D) => {
    const kept = tf.cast(tf.notEqual(labels, -100), 'float32');
    const picked = tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(tf.maximum(labels, tf.scalar(0, 'int32')) as TF.Tensor1D, logits.shape[1])), -1);
    return tf.div(tf.neg(tf.sum(tf.mul(picked, kept))), tf.maximum(tf.sum(kept), 1));
  };
  return async (b: PretrainBatch): Promise<number> => {
    const inputs = tf.tidy(() => ({
      ids: tf.tensor2d(b.input_ids, [batch, seq], 'int32'),
      types: tf.tensor2d(b.token_type_ids, [batch, seq], 'int32'),
      mask: tf.tensor2d(b.attention_mask, [batch, seq], 'int32'),
      labels: tf.tensor1d(b.labels, 'int32'),
      nsp: tf.tensor1d(b.next_sentence_label, 'int32'),
    }));
    const loss = optimizer.minimize(() => {
      const [x, pooled] = encode(inputs.ids, inputs.types, inputs.mask);
      const h = layerNorm(gelu(linear(tf.reshape(x, [batch * seq, config.hidden]), 'cls.predictions.transform.dense')), 'cls.predictions.transform.LayerNorm');
      const logits = tf.add(tf.matMul(h, w['embeddings.word_embeddings.weight']!, false, true), w['cls.predictions.bias']!) as TF.Tensor2D;
      const nsp = linear(pooled, 'cls.seq_relationship') as TF.Tensor2D;
      return tf.add(crossEntropy(logits, inputs.labels), crossEntropy(nsp, inputs.nsp)) as TF.Scalar;
    }, true)!;
    const value = (await loss.data())[0]!;
    tf.dispose([loss, ...Object.values(inputs)]);
    return value;
  };
}
