// ALBERT (Lan et al. 2020) for pretraining, as HuggingFace's
// AlbertForPreTraining: embeddings factorized to embedding_size and mapped up
// to hidden_size, one encoder layer whose weights every layer of the stack
// shares (the repeat gives each the same scope), a masked-LM head back in
// embedding_size, and sentence-order prediction in place of next-sentence
// prediction (the same two-way head on the pooled output). HuggingFace's
// names throughout. Its tokenizer is SentencePiece (tokenizer.json).

block albert_embeddings(input_ids, token_type_ids) {
  description "word, token type and position embeddings in embedding_size dimensions, LayerNorm and dropout"
  let words = embedding(input_ids, name: "word_embeddings", rows: vocab_size, dim: embedding_size)
  let types = embedding(token_type_ids, name: "token_type_embeddings", rows: type_vocab_size, dim: embedding_size)
  let ids = range(size: seq)
  let positions = embedding(ids, name: "position_embeddings", rows: max_position_embeddings, dim: embedding_size)
  let summed = add(words, types)
  let positioned = add(summed, positions)
  let normed = layer_norm(positioned, name: "LayerNorm", eps: layer_norm_eps)
  let out = dropout(normed, rate: hidden_dropout_prob)
  return out
}

block albert_layer(x, mask) {
  description "ALBERT's layer: attention (query, key, value, dense, LayerNorm after the residual), then ffn, activation, ffn_output, residual and full_layer_layer_norm"
  let attended = self_attention(x, mask) @ "attention"
  let projected = linear(attended, name: "attention.dense", out: hidden_size)
  let dropped = dropout(projected, rate: hidden_dropout_prob)
  let residual = add(dropped, x)
  let h = layer_norm(residual, name: "attention.LayerNorm", eps: layer_norm_eps)
  let up = linear(h, name: "ffn", out: intermediate_size)
  let activated = act(up, fn: "{hidden_act}")
  let down = linear(activated, name: "ffn_output", out: hidden_size)
  let dropped2 = dropout(down, rate: hidden_dropout_prob)
  let residual2 = add(dropped2, h)
  let out = layer_norm(residual2, name: "full_layer_layer_norm", eps: layer_norm_eps)
  return out
}

block albert_pooler(x) {
  description "linear + tanh on the first ([CLS]) token; the linear is the pooler module itself"
  let first = select(x, axis: 1, index: 0)
  let dense = linear(first, out: hidden_size)
  let out = tanh(dense)
  return out
}

block albert_mlm_head(x) {
  description "masked-LM head back in embedding_size dimensions (AlbertMLMHead); the decoder is tied to the word embeddings"
  let dense = linear(x, name: "dense", out: embedding_size)
  let activated = act(dense, fn: "{hidden_act}")
  let normed = layer_norm(activated, name: "LayerNorm", eps: layer_norm_eps)
  let decoder = param(name: "/albert.embeddings.word_embeddings.weight", shape: [vocab_size, embedding_size])
  let bias = param(name: "bias", shape: [vocab_size], init: zeros)
  let logits = linear(normed, decoder, bias)
  return logits
}

block albert_classifier(x) with (num_labels: int = 2) {
  description "dropout + linear (ALBERT's sentence-order, sequence and token classifiers); config classifier_dropout_prob"
  let dropped = dropout(x, rate: classifier_dropout_prob)
  let logits = linear(dropped, name: "classifier", out: num_labels)
  return logits
}

model albert extends "bert.tcc" {
  config {
    vocab_size = 30000
    embedding_size = 128
    hidden_act = gelu_tanh
    hidden_dropout_prob = 0
    attention_probs_dropout_prob = 0
    classifier_dropout_prob = 0.1
  }
  body scope "albert" {
    let embedded = albert_embeddings(input_ids, token_type_ids) @ "embeddings"
    let widened = linear(embedded, name: "encoder.embedding_hidden_mapping_in", out: hidden_size)
    let encoded = repeat num_hidden_layers { albert_layer(widened, mask) @ "encoder.albert_layer_groups.0.albert_layers.0" }
    let pooled = albert_pooler(sequence) @ "pooler"
  }
  head mlm = albert_mlm_head(last_hidden_state) @ "predictions" -> { prediction_logits: logits }
  head nsp = albert_classifier(pooler_output, num_labels: 2) @ "sop_classifier" -> { seq_relationship_logits: logits }
}

// Masked LM plus sentence-order prediction: next_sentence_label is 1 where the
// two segments are swapped (HuggingFace's sentence_order_label).
