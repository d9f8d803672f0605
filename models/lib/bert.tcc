// The BERT block library. Every block is composed from ops; shipped models
// extend this file and choose blocks through their config. Parameter names
// come from the scopes given where blocks are instantiated (`@ "scope"`), and
// match HuggingFace's BertModel / BertForPreTraining state dicts.
//
// A step is `let name = op(inputs, attribute: value) @ "scope"`. Numbers may
// be expressions over config values (hidden_size / num_attention_heads);
// strings may interpolate them ("{hidden_act}", "encoder.layer.{i}").

// ---- embeddings ----
block bert_embeddings(input_ids, token_type_ids) {
  description "word + token type + position embeddings, then LayerNorm and dropout"
  let words = embedding(input_ids, name: "word_embeddings", rows: vocab_size, dim: hidden_size)
  let types = embedding(token_type_ids, name: "token_type_embeddings", rows: type_vocab_size, dim: hidden_size)
  let summed = add(words, types)
  let positioned = "{position_embedding_type}_positions"(summed)
  let normed = layer_norm(positioned, name: "LayerNorm", eps: layer_norm_eps)
  let out = dropout(normed, rate: hidden_dropout_prob)
  return out
}

block learned_positions(x) {
  description "learned absolute positions (BERT), position_embeddings.weight [max_position_embeddings, hidden_size]"
  let ids = range(size: seq)
  let table = embedding(ids, name: "position_embeddings", rows: max_position_embeddings, dim: hidden_size)
  let out = add(x, table)
  return out
}

block sinusoidal_positions(x) {
  description "the fixed sin/cos encoding of the original Transformer; no parameters"
  let table = sinusoidal(length: seq, dim: hidden_size)
  let out = add(x, table)
  return out
}

block extended_attention_mask(mask) {
  description "attention_mask [batch, seq] of 1 (attend) and 0 (padding) → additive [batch, 1, 1, seq]: (1 - mask) * f32 min, as HuggingFace"
  let floats = cast(mask, to: f32)
  let shaped = reshape(floats, shape: [batch, 1, 1, seq])
  let out = affine(shaped, scale: 3.4028234663852886e+38, shift: -3.4028234663852886e+38)
  return out
}

// ---- attention ----
block split_heads(x) {
  let split = reshape(x, shape: [batch, seq, num_attention_heads, hidden_size / num_attention_heads])
  let out = transpose(split, perm: [0, 2, 1, 3])
  return out
}

block merge_heads(x) {
  let moved = transpose(x, perm: [0, 2, 1, 3])
  let out = reshape(moved, shape: [batch, seq, hidden_size])
  return out
}

block self_attention(x, mask) {
  description "multi-head scaled dot-product self-attention with an additive mask"
  let q = linear(x, name: "query", out: hidden_size)
  let k = linear(x, name: "key", out: hidden_size)
  let v = linear(x, name: "value", out: hidden_size)
  let qh = split_heads(q)
  let kh = split_heads(k)
  let vh = split_heads(v)
  let scores = matmul(qh, kh, transpose_b: true)
  let scaled = affine(scores, scale: 1 / sqrt(hidden_size / num_attention_heads))
  let masked = add(scaled, mask)
  let probs = softmax(masked, axis: -1)
  let dropped = dropout(probs, rate: attention_probs_dropout_prob)
  let context = matmul(dropped, vh)
  let out = merge_heads(context)
  return out
}

// ---- encoder layers ----
block post_ln_layer(x, mask) {
  description "BERT's encoder layer, LayerNorm after each residual"
  let attended = self_attention(x, mask) @ "attention.self"
  let projected = linear(attended, name: "attention.output.dense", out: hidden_size)
  let dropped = dropout(projected, rate: hidden_dropout_prob)
  let residual = add(dropped, x)
  let h = layer_norm(residual, name: "attention.output.LayerNorm", eps: layer_norm_eps)
  let up = linear(h, name: "intermediate.dense", out: intermediate_size)
  let activated = act(up, fn: "{hidden_act}")
  let down = linear(activated, name: "output.dense", out: hidden_size)
  let dropped2 = dropout(down, rate: hidden_dropout_prob)
  let residual2 = add(dropped2, h)
  let out = layer_norm(residual2, name: "output.LayerNorm", eps: layer_norm_eps)
  return out
}

block pre_ln_layer(x, mask) {
  description "pre-LN encoder layer (Xiong et al. 2020), LayerNorm before each sublayer"
  let normed = layer_norm(x, name: "attention.output.LayerNorm", eps: layer_norm_eps)
  let attended = self_attention(normed, mask) @ "attention.self"
  let projected = linear(attended, name: "attention.output.dense", out: hidden_size)
  let dropped = dropout(projected, rate: hidden_dropout_prob)
  let h = add(dropped, x)
  let normed2 = layer_norm(h, name: "output.LayerNorm", eps: layer_norm_eps)
  let up = linear(normed2, name: "intermediate.dense", out: intermediate_size)
  let activated = act(up, fn: "{hidden_act}")
  let down = linear(activated, name: "output.dense", out: hidden_size)
  let dropped2 = dropout(down, rate: hidden_dropout_prob)
  let out = add(dropped2, h)
  return out
}

block post_ln_final(x) {
  description "nothing to do after a post-LN stack"
  return x
}

block pre_ln_final(x) {
  description "a pre-LN stack ends with one more LayerNorm"
  let out = layer_norm(x, name: "LayerNorm", eps: layer_norm_eps)
  return out
}

block pooler(x) {
  description "dense + tanh on the first ([CLS]) token"
  let first = select(x, axis: 1, index: 0)
  let dense = linear(first, name: "dense", out: hidden_size)
  let out = tanh(dense)
  return out
}

// ---- sentence embeddings (sentence-transformers' Pooling and Normalize) ----

block mean_pooling(x, mask) {
  description "the mean of the tokens the attention mask keeps: sum(x · mask) / max(sum(mask), 1e-9)"
  let floats = cast(mask, to: f32)
  let column = reshape(floats, shape: [batch, seq, 1])
  let kept = mul(x, column)
  let summed = sum(kept, axes: [1])
  let count = sum(column, axes: [1])
  let floor = fill(value: 1e-9)
  let counted = maximum(count, floor)
  let out = div(summed, counted)
  return out
}

block cls_pooling(x, mask) {
  description "the first token's vector"
  let out = select(x, axis: 1, index: 0)
  return out
}

block max_pooling(x, mask) {
  description "the maximum over the tokens the attention mask keeps (the others count as -1e9)"
  let floats = cast(mask, to: f32)
  let column = reshape(floats, shape: [batch, seq, 1])
  let kept = mul(x, column)
  let dropped = affine(column, scale: 1000000000, shift: -1000000000)
  let filled = add(kept, dropped)
  let out = max(filled, axes: [1])
  return out
}

block l2_normalize(x) {
  description "x / max(‖x‖₂, 1e-12) over the last axis, as torch.nn.functional.normalize"
  let squares = mul(x, x)
  let summed = sum(squares, axes: [-1], keepdims: true)
  let norm = sqrt(summed)
  let floor = fill(value: 1e-12)
  let bounded = maximum(norm, floor)
  let out = div(x, bounded)
  return out
}

block no_normalization(x) {
  description "the pooled vector as it is"
  return x
}

// ---- heads ----
block mlm_head(x) {
  description "masked-LM head; the decoder is tied to the word embeddings and has its own bias"
  let dense = linear(x, name: "transform.dense", out: hidden_size)
  let activated = act(dense, fn: "{hidden_act}")
  let normed = layer_norm(activated, name: "transform.LayerNorm", eps: layer_norm_eps)
  let decoder = param(name: "/bert.embeddings.word_embeddings.weight", shape: [vocab_size, hidden_size])
  let bias = param(name: "bias", shape: [vocab_size], init: zeros)
  let logits = linear(normed, decoder, bias)
  return logits
}

block nsp_head(pooled) {
  description "next-sentence prediction, 2-way linear on the pooled output"
  let logits = linear(pooled, out: 2)
  return logits
}

block sequence_classifier(pooled) with (num_labels: int = 2) {
  description "dropout + linear on the pooled output (BertForSequenceClassification)"
  let dropped = dropout(pooled, rate: hidden_dropout_prob)
  let logits = linear(dropped, out: num_labels)
  return logits
}

block token_classifier(x) with (num_labels: int = 2) {
  description "dropout + linear on every token (BertForTokenClassification)"
  let dropped = dropout(x, rate: hidden_dropout_prob)
  let logits = linear(dropped, out: num_labels)
  return logits
}

block qa_head(x) {
  description "span start and end logits (BertForQuestionAnswering)"
  let logits = linear(x, out: 2)
  let start = select(logits, axis: -1, index: 0)
  let end = select(logits, axis: -1, index: 1)
  return start, end
}

// ---- losses ----
block half_cross_entropy(logits, labels) {
  description "half the mean cross-entropy (each of QA's start and end losses, as HuggingFace averages them)"
  let full = cross_entropy(logits, labels)
  let out = affine(full, scale: 0.5)
  return out
}
