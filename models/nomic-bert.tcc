// nomic-bert (Nussbaum et al. 2024, nomic-embed-text): BERT's post-LN encoder
// with rotary positions in place of learned ones, one fused query/key/value
// projection (Wqkv), a gated MLP (fc11 · act(fc12), then fc2; SwiGLU with
// SiLU), and no biases in the attention and MLP projections, as the
// NomicBertForPreTraining of nomic-ai's modeling code (HuggingFace's names,
// no pooler, a masked-LM head whose decoder is tied to the word embeddings).
// Its tokenizer is bert-base-uncased's; embedding models (NomicBertModel) pool
// it with sentence-transformers' mean pooling (tcc embed).

block nomic_embeddings(input_ids, token_type_ids) {
  description "word and token type embeddings; the positions are rotary, inside attention"
  let words = embedding(input_ids, name: "word_embeddings", rows: vocab_size, dim: hidden_size)
  let types = embedding(token_type_ids, name: "token_type_embeddings", rows: type_vocab_size, dim: hidden_size)
  let out = add(words, types)
  return out
}

block rotary_self_attention(x, mask) {
  description "multi-head self-attention from one projection Wqkv (query, key, value in that order), rotary positions on the queries and keys, out_proj"
  let qkv = linear(x, name: "Wqkv", out: 3 * hidden_size, bias: qkv_proj_bias)
  let q = slice(qkv, axis: -1, start: 0, end: hidden_size)
  let k = slice(qkv, axis: -1, start: hidden_size, end: 2 * hidden_size)
  let v = slice(qkv, axis: -1, start: 2 * hidden_size, end: 3 * hidden_size)
  let qh = split_heads(q)
  let kh = split_heads(k)
  let vh = split_heads(v)
  let qr = rotary(qh, base: rotary_emb_base, dims: hidden_size / num_attention_heads * rotary_emb_fraction)
  let kr = rotary(kh, base: rotary_emb_base, dims: hidden_size / num_attention_heads * rotary_emb_fraction)
  let scores = matmul(qr, kr, transpose_b: true)
  let scaled = affine(scores, scale: 1 / sqrt(hidden_size / num_attention_heads))
  let masked = add(scaled, mask)
  let probs = softmax(masked, axis: -1)
  let dropped = dropout(probs, rate: attention_probs_dropout_prob)
  let context = matmul(dropped, vh)
  let merged = merge_heads(context)
  let out = linear(merged, name: "out_proj", out: hidden_size, bias: qkv_proj_bias)
  return out
}

block gated_mlp(x) {
  description "fc11(x) · act(fc12(x)), then fc2 (SwiGLU with SiLU, GeGLU with GELU)"
  let up = linear(x, name: "fc11", out: intermediate_size, bias: mlp_fc1_bias)
  let gate = linear(x, name: "fc12", out: intermediate_size, bias: mlp_fc1_bias)
  let activated = act(gate, fn: "{gate_act}")
  let gated = mul(up, activated)
  let out = linear(gated, name: "fc2", out: hidden_size, bias: mlp_fc2_bias)
  return out
}

block nomic_mlm_head(x) {
  description "masked-LM head (NomicBertPredictionHeadTransform: dense, the gate's activation, layer_norm; the decoder tied to the word embeddings, without bias)"
  let dense = linear(x, name: "transform.dense", out: hidden_size, bias: mlp_fc1_bias)
  let activated = act(dense, fn: "{gate_act}")
  let normed = layer_norm(activated, name: "transform.layer_norm", eps: layer_norm_eps)
  let decoder = param(name: "/bert.embeddings.word_embeddings.weight", shape: [vocab_size, hidden_size])
  let logits = linear(normed, decoder)
  return logits
}

block nomic_layer(x, mask) {
  description "NomicBertBlock, post-LN: attention, residual and norm1; the gated MLP, residual and norm2"
  let attended = rotary_self_attention(x, mask) @ "attn"
  let dropped = dropout(attended, rate: hidden_dropout_prob)
  let residual = add(dropped, x)
  let h = layer_norm(residual, name: "norm1", eps: layer_norm_eps)
  let mlp = gated_mlp(h) @ "mlp"
  let dropped2 = dropout(mlp, rate: hidden_dropout_prob)
  let residual2 = add(dropped2, h)
  let out = layer_norm(residual2, name: "norm2", eps: layer_norm_eps)
  return out
}

model "nomic-bert" extends "bert.tcc" {
  config {
    vocab_size = 30528
    max_position_embeddings = 2048
    rotary_emb_base = 1000
    rotary_emb_fraction = 1
    gate_act = silu
    qkv_proj_bias = false
    mlp_fc1_bias = false
    mlp_fc2_bias = false
    hidden_dropout_prob = 0
    attention_probs_dropout_prob = 0
  }
  body scope "bert" {
    let embedded = nomic_embeddings(input_ids, token_type_ids) @ "embeddings"
    let normed = layer_norm(embedded, name: "emb_ln", eps: layer_norm_eps)
    let dropped = dropout(normed, rate: hidden_dropout_prob)
    let encoded = repeat num_hidden_layers { nomic_layer(dropped, mask) @ "encoder.layers.{i}" }
    let pooled = null
    output pooler_output = null
  }
  head mlm = nomic_mlm_head(last_hidden_state) @ "cls.predictions" -> { prediction_logits: logits }
  head nsp = null

  // Masked LM alone (label -100 where nothing is predicted).

  training {
    input next_sentence_label = null
    loss nsp_loss = null
    metric nsp_acc = null
  }
}
