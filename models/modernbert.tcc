// ModernBERT (Warner et al. 2024), as HuggingFace's ModernBertForMaskedLM at
// ModernBERT-base's size: pre-LN layers (the first without a norm before
// attention) of rotary attention from one Wqkv projection, where every
// global_attn_every_n_layers-th layer attends to the whole sequence (rotary
// base global_rope_theta) and the others to a local window of local_attention
// tokens (base local_rope_theta), a GeGLU MLP (Wi split into input and gate:
// act(input) · gate, then Wo), no biases and LayerNorms without bias, a final
// norm, and a masked-LM head (dense, GELU, norm) whose decoder is tied to the
// token embeddings. Its tokenizer is byte-level BPE (tokenizer.json).

block modernbert_embeddings(input_ids) {
  description "token embeddings, norm (no bias) and dropout; the positions are rotary, inside attention"
  let tokens = embedding(input_ids, name: "tok_embeddings", rows: vocab_size, dim: hidden_size)
  let normed = layer_norm(tokens, name: "norm", eps: layer_norm_eps, bias: norm_bias)
  let out = dropout(normed, rate: embedding_dropout)
  return out
}

block modernbert_attn_norm_0(x) {
  description "the first layer has no norm before its attention"
  return x
}

block modernbert_attn_norm_1(x) {
  description "attn_norm, before the attention of every layer but the first"
  let out = layer_norm(x, name: "attn_norm", eps: layer_norm_eps, bias: norm_bias)
  return out
}

block modernbert_attention(x, mask) with (theta: float = 160000, window: int = 0) {
  description "rotary self-attention from Wqkv with rotary base theta, over the whole sequence (window 0) or within window tokens, then Wo"
  let qkv = linear(x, name: "Wqkv", out: 3 * hidden_size, bias: attention_bias)
  let q = slice(qkv, axis: -1, start: 0, end: hidden_size)
  let k = slice(qkv, axis: -1, start: hidden_size, end: 2 * hidden_size)
  let v = slice(qkv, axis: -1, start: 2 * hidden_size, end: 3 * hidden_size)
  let qh = split_heads(q)
  let kh = split_heads(k)
  let vh = split_heads(v)
  let qr = rotary(qh, base: theta, dims: hidden_size / num_attention_heads)
  let kr = rotary(kh, base: theta, dims: hidden_size / num_attention_heads)
  let local = sliding_window(queries: seq, keys: seq, window: window)
  let windowed = add(mask, local)
  let scores = matmul(qr, kr, transpose_b: true)
  let scaled = affine(scores, scale: 1 / sqrt(hidden_size / num_attention_heads))
  let masked = add(scaled, windowed)
  let probs = softmax(masked, axis: -1)
  let dropped = dropout(probs, rate: attention_dropout)
  let context = matmul(dropped, vh)
  let merged = merge_heads(context)
  let projected = linear(merged, name: "Wo", out: hidden_size, bias: attention_bias)
  let out = dropout(projected, rate: attention_dropout)
  return out
}

block geglu_mlp(x) {
  description "Wi to twice intermediate_size, split into input and gate: act(input) · gate, dropout, Wo"
  let both = linear(x, name: "Wi", out: 2 * intermediate_size, bias: mlp_bias)
  let input = slice(both, axis: -1, start: 0, end: intermediate_size)
  let gate = slice(both, axis: -1, start: intermediate_size, end: 2 * intermediate_size)
  let activated = act(input, fn: "{hidden_act}")
  let gated = mul(activated, gate)
  let dropped = dropout(gated, rate: mlp_dropout)
  let out = linear(dropped, name: "Wo", out: hidden_size, bias: mlp_bias)
  return out
}

block modernbert_layer(x, mask) {
  description "ModernBertEncoderLayer i, pre-LN: x + attention(attn_norm(x)), then + mlp(mlp_norm(·)); every global_attn_every_n_layers-th layer (from the first) global, the others local"
  let normed = "modernbert_attn_norm_{min(i, 1)}"(x)
  let attended = modernbert_attention(normed, mask, theta: global_rope_theta + (local_rope_theta - global_rope_theta) * min(i % global_attn_every_n_layers, 1), window: local_attention * min(i % global_attn_every_n_layers, 1)) @ "attn"
  let h = add(x, attended)
  let normed2 = layer_norm(h, name: "mlp_norm", eps: layer_norm_eps, bias: norm_bias)
  let mlp = geglu_mlp(normed2) @ "mlp"
  let out = add(h, mlp)
  return out
}

block modernbert_head(x) {
  description "ModernBertPredictionHead: dense, classifier_act, norm"
  let dense = linear(x, name: "dense", out: hidden_size, bias: classifier_bias)
  let activated = act(dense, fn: "{classifier_act}")
  let out = layer_norm(activated, name: "norm", eps: layer_norm_eps, bias: norm_bias)
  return out
}

block modernbert_mlm_head(x) {
  description "the prediction head, then the decoder tied to the token embeddings, with its bias"
  let h = modernbert_head(x) @ "head"
  let decoder = param(name: "/model.embeddings.tok_embeddings.weight", shape: [vocab_size, hidden_size])
  let bias = param(name: "decoder.bias", shape: [vocab_size], init: zeros)
  let logits = linear(h, decoder, bias)
  return logits
}

block modernbert_sequence_classifier(pooled) with (num_labels: int = 2) {
  description "the pooled sequence (classifier_pooling: mean or cls) through the prediction head, dropout and classifier (ModernBertForSequenceClassification)"
  let h = modernbert_head(pooled) @ "head"
  let dropped = dropout(h, rate: classifier_dropout)
  let logits = linear(dropped, name: "classifier", out: num_labels)
  return logits
}

block modernbert_token_classifier(x) with (num_labels: int = 2) {
  description "every token through the prediction head, dropout and classifier (ModernBertForTokenClassification)"
  let h = modernbert_head(x) @ "head"
  let dropped = dropout(h, rate: classifier_dropout)
  let logits = linear(dropped, name: "classifier", out: num_labels)
  return logits
}

model modernbert extends "bert.tcc" {
  config {
    vocab_size = 50368
    hidden_size = 768
    num_hidden_layers = 22
    num_attention_heads = 12
    intermediate_size = 1152
    max_position_embeddings = 8192
    layer_norm_eps = 0.00001
    global_rope_theta = 160000
    local_rope_theta = 10000
    local_attention = 128
    global_attn_every_n_layers = 3
    attention_bias = false
    mlp_bias = false
    norm_bias = false
    classifier_bias = false
    classifier_act = gelu
    embedding_dropout = 0
    attention_dropout = 0
    mlp_dropout = 0
  }
  require global_attn_every_n_layers >= 1 : "global_attn_every_n_layers must be at least 1 (every N-th layer from the first attends globally), got {global_attn_every_n_layers}"
  input token_type_ids = null
  body scope "model" {
    let embedded = modernbert_embeddings(input_ids) @ "embeddings"
    let encoded = repeat num_hidden_layers { modernbert_layer(embedded, mask) @ "layers.{i}" }
    let sequence = layer_norm(encoded, name: "/model.final_norm", eps: layer_norm_eps, bias: norm_bias)
    let pooled = null
    output pooler_output = null
  }
  head mlm = null
  head nsp = null
  head masked_lm = modernbert_mlm_head(last_hidden_state) -> { prediction_logits: logits }

  // Masked LM alone (label -100 where nothing is predicted).

  training {
    input next_sentence_label = null
    loss nsp_loss = null
    metric nsp_acc = null
  }
}
