// The benchmark's WebGPU peer: BertModel (encoder and pooler) written with
// TensorFlow.js ops and run by @tensorflow/tfjs-backend-webgpu on the same
// adapter, with tcc's weights (HuggingFace names, Linear weights [out, in]).

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
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not start its WebGPU backend');
  return tf;
}

/** A forward function over uploaded weights: ids, types, mask [batch, seq] → (last hidden state, pooled). */
export function tfjsBert(tf: Tf, params: Readonly<Record<string, Float32Array>>, shapes: Readonly<Record<string, readonly number[]>>, config: BertShape) {
  const w: Record<string, TF.Tensor> = {};
  for (const [name, data] of Object.entries(params)) w[name.replace(/^bert\./, '')] = tf.tensor(data, [...shapes[name]!]);
  const linear = (x: TF.Tensor, name: string) => tf.add(tf.matMul(x, w[`${name}.weight`]!, false, true), w[`${name}.bias`]!);
  const layerNorm = (x: TF.Tensor, name: string) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-12))), w[`${name}.weight`]!), w[`${name}.bias`]!);
  };
  const gelu = (x: TF.Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
  const { layers, heads, hidden } = config;
  const size = hidden / heads;
  return (ids: TF.Tensor2D, types: TF.Tensor2D, mask: TF.Tensor2D): [TF.Tensor, TF.Tensor] =>
    tf.tidy(() => {
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
    });
}
