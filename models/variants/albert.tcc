// ALBERT-style BERT (Lan et al. 2020): the embeddings are factorized (tokens
// embed in embedding_size = 128 dimensions, then a linear map widens them to
// hidden_size), and every layer of the stack shares one layer's weights: the
// repeat gives each iteration the same scope, so the same parameters.

block albert_embeddings(input_ids, token_type_ids) {
  description "word, token type and position embeddings in embedding_size dimensions, LayerNorm, then the map to hidden_size"
  let words = embedding(input_ids, name: "word_embeddings", rows: vocab_size, dim: embedding_size)
  let types = embedding(token_type_ids, name: "token_type_embeddings", rows: type_vocab_size, dim: embedding_size)
  let ids = range(size: seq)
  let positions = embedding(ids, name: "position_embeddings", rows: max_position_embeddings, dim: embedding_size)
  let summed = add(words, types)
  let positioned = add(summed, positions)
  let normed = layer_norm(positioned, name: "LayerNorm", eps: layer_norm_eps)
  let dropped = dropout(normed, rate: hidden_dropout_prob)
  let out = linear(dropped, name: "/albert.encoder.embedding_hidden_mapping_in", out: hidden_size)
  return out
}

block albert_mlm_head(x) {
  description "masked-LM head back in embedding_size dimensions; the decoder is tied to the word embeddings"
  let dense = linear(x, name: "dense", out: embedding_size)
  let activated = act(dense, fn: "{hidden_act}")
  let normed = layer_norm(activated, name: "LayerNorm", eps: layer_norm_eps)
  let decoder = param(name: "/albert.embeddings.word_embeddings.weight", shape: [vocab_size, embedding_size])
  let bias = param(name: "bias", shape: [vocab_size], init: zeros)
  let logits = linear(normed, decoder, bias)
  return logits
}

model albert extends "../bert-base.tcc" {
  config {
    embedding_size = 128
  }
  body scope "albert" {
    let embedded = albert_embeddings(input_ids, token_type_ids) @ "embeddings"
    let encoded = repeat num_hidden_layers { post_ln_layer(embedded, mask) @ "encoder.shared_layer" }
  }
  head mlm = albert_mlm_head(last_hidden_state) @ "predictions" -> { prediction_logits: logits }
  head nsp = nsp_head(pooler_output) @ "sop_classifier" -> { seq_relationship_logits: logits }
}
