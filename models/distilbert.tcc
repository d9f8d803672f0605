// DistilBERT (Sanh et al. 2019) for masked-LM pretraining, as HuggingFace's
// DistilBertForMaskedLM: BERT's post-LN encoder distilled to 6 layers, with
// no token types, no pooler, and HuggingFace's own names (q_lin, sa_layer_norm,
// ffn.lin1, vocab_projector, …). Its tokenizer is bert-base-uncased's.

block distilbert_embeddings(input_ids) {
  description "word and position embeddings (no token types), LayerNorm and dropout"
  let words = embedding(input_ids, name: "word_embeddings", rows: vocab_size, dim: hidden_size)
  let positioned = learned_positions(words)
  let normed = layer_norm(positioned, name: "LayerNorm", eps: layer_norm_eps)
  let out = dropout(normed, rate: hidden_dropout_prob)
  return out
}

block distilbert_self_attention(x, mask) {
  description "multi-head self-attention with DistilBERT's projections q_lin, k_lin, v_lin"
  let q = linear(x, name: "q_lin", out: hidden_size)
  let k = linear(x, name: "k_lin", out: hidden_size)
  let v = linear(x, name: "v_lin", out: hidden_size)
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

block distilbert_layer(x, mask) {
  description "DistilBERT's TransformerBlock: attention, out_lin, residual and sa_layer_norm; lin1, activation, lin2, residual and output_layer_norm"
  let attended = distilbert_self_attention(x, mask) @ "attention"
  let projected = linear(attended, name: "attention.out_lin", out: hidden_size)
  let residual = add(projected, x)
  let h = layer_norm(residual, name: "sa_layer_norm", eps: layer_norm_eps)
  let up = linear(h, name: "ffn.lin1", out: intermediate_size)
  let activated = act(up, fn: "{hidden_act}")
  let down = linear(activated, name: "ffn.lin2", out: hidden_size)
  let dropped = dropout(down, rate: hidden_dropout_prob)
  let residual2 = add(dropped, h)
  let out = layer_norm(residual2, name: "output_layer_norm", eps: layer_norm_eps)
  return out
}

block distilbert_mlm_head(x) {
  description "masked-LM head; the projector is tied to the word embeddings and has its own bias"
  let dense = linear(x, name: "vocab_transform", out: hidden_size)
  let activated = act(dense, fn: "{hidden_act}")
  let normed = layer_norm(activated, name: "vocab_layer_norm", eps: layer_norm_eps)
  let decoder = param(name: "/distilbert.embeddings.word_embeddings.weight", shape: [vocab_size, hidden_size])
  let bias = param(name: "vocab_projector.bias", shape: [vocab_size], init: zeros)
  let logits = linear(normed, decoder, bias)
  return logits
}

block distilbert_sequence_classifier(x) with (num_labels: int = 2) {
  description "the first token ([CLS]) through pre_classifier, ReLU, dropout and classifier (DistilBertForSequenceClassification); config seq_classif_dropout"
  let first = select(x, axis: 1, index: 0)
  let dense = linear(first, name: "pre_classifier", out: hidden_size)
  let activated = relu(dense)
  let dropped = dropout(activated, rate: seq_classif_dropout)
  let logits = linear(dropped, name: "classifier", out: num_labels)
  return logits
}

block distilbert_token_classifier(x) with (num_labels: int = 2) {
  description "dropout + linear on every token (DistilBertForTokenClassification)"
  let dropped = dropout(x, rate: hidden_dropout_prob)
  let logits = linear(dropped, name: "classifier", out: num_labels)
  return logits
}

block distilbert_qa_head(x) {
  description "dropout, then span start and end logits (DistilBertForQuestionAnswering); config qa_dropout"
  let dropped = dropout(x, rate: qa_dropout)
  let logits = linear(dropped, name: "qa_outputs", out: 2)
  let start = select(logits, axis: -1, index: 0)
  let end = select(logits, axis: -1, index: 1)
  return start, end
}

model distilbert extends "bert.tcc" {
  config {
    num_hidden_layers = 6
  }
  input token_type_ids = null
  body scope "distilbert" {
    let embedded = distilbert_embeddings(input_ids) @ "embeddings"
    let encoded = repeat num_hidden_layers { distilbert_layer(embedded, mask) @ "transformer.layer.{i}" }
    let pooled = null
    output pooler_output = null
  }
  head mlm = null
  head nsp = null
  head masked_lm = distilbert_mlm_head(last_hidden_state) -> { prediction_logits: logits }

  // Masked LM alone (label -100 where nothing is predicted, as HuggingFace).

  training {
    input next_sentence_label = null
    loss nsp_loss = null
    metric nsp_acc = null
  }
}
