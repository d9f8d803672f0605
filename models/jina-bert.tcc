// JinaBERT (Günther et al. 2023, jina-embeddings-v2): BERT's post-LN encoder
// without position embeddings, whose attention scores take ALiBi's bias
// (-slope(head) · |i - j|, computed inside the attention kernel), and a GeGLU
// MLP with its own residual and LayerNorm (gated_layers without bias: glu_act,
// GELU, of the first half times the second, then wo and layernorm), as the
// JinaBertForMaskedLM of jina-ai's modeling code, HuggingFace's names.

block jina_embeddings(input_ids, token_type_ids) {
  description "word and token type embeddings (no positions; ALiBi's bias is added to attention scores), LayerNorm and dropout"
  let words = embedding(input_ids, name: "word_embeddings", rows: vocab_size, dim: hidden_size)
  let types = embedding(token_type_ids, name: "token_type_embeddings", rows: type_vocab_size, dim: hidden_size)
  let summed = add(words, types)
  let normed = layer_norm(summed, name: "LayerNorm", eps: layer_norm_eps)
  let out = dropout(normed, rate: hidden_dropout_prob)
  return out
}

block alibi_self_attention(x, mask) {
  description "multi-head self-attention with ALiBi's bias on the scores, besides the padding mask"
  let q = linear(x, name: "query", out: hidden_size)
  let k = linear(x, name: "key", out: hidden_size)
  let v = linear(x, name: "value", out: hidden_size)
  let qh = split_heads(q)
  let kh = split_heads(k)
  let vh = split_heads(v)
  let bias = alibi(heads: num_attention_heads, queries: seq, keys: seq)
  let biased = add(mask, bias)
  let scores = matmul(qh, kh, transpose_b: true)
  let scaled = affine(scores, scale: 1 / sqrt(hidden_size / num_attention_heads))
  let masked = add(scaled, biased)
  let probs = softmax(masked, axis: -1)
  let dropped = dropout(probs, rate: attention_probs_dropout_prob)
  let context = matmul(dropped, vh)
  let out = merge_heads(context)
  return out
}

block jina_layer(x, mask) {
  description "JinaBertLayer: attention (BERT's, with ALiBi), then the GeGLU MLP with its residual and layernorm"
  let attended = alibi_self_attention(x, mask) @ "attention.self"
  let projected = linear(attended, name: "attention.output.dense", out: hidden_size)
  let dropped = dropout(projected, rate: hidden_dropout_prob)
  let residual = add(dropped, x)
  let h = layer_norm(residual, name: "attention.output.LayerNorm", eps: layer_norm_eps)
  let both = linear(h, name: "mlp.gated_layers", out: 2 * intermediate_size, bias: false)
  let gated = slice(both, axis: -1, start: 0, end: intermediate_size)
  let plain = slice(both, axis: -1, start: intermediate_size, end: 2 * intermediate_size)
  let activated = act(gated, fn: "{glu_act}")
  let product = mul(activated, plain)
  let dropped2 = dropout(product, rate: hidden_dropout_prob)
  let down = linear(dropped2, name: "mlp.wo", out: hidden_size)
  let residual2 = add(down, h)
  let out = layer_norm(residual2, name: "mlp.layernorm", eps: layer_norm_eps)
  return out
}

model "jina-bert" extends "bert.tcc" {
  config {
    vocab_size = 30528
    max_position_embeddings = 8192
    glu_act = gelu
  }
  body {
    let embedded = jina_embeddings(input_ids, token_type_ids) @ "embeddings"
    let encoded = repeat num_hidden_layers { jina_layer(embedded, mask) @ "encoder.layer.{i}" }
    let pooled = null
    output pooler_output = null
  }
  head nsp = null

  // Masked LM alone (label -100 where nothing is predicted).

  training {
    input next_sentence_label = null
    loss nsp_loss = null
    metric nsp_acc = null
  }
}
