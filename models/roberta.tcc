// RoBERTa (Liu et al. 2019) for masked-LM pretraining, as HuggingFace's
// RobertaForMaskedLM: BERT's encoder, with position ids counted past the
// padding (a token's position is padding_idx + 1 + the real tokens before
// it; padding sits at padding_idx), a single token type, LayerNorm eps 1e-5,
// no pooler, and masked LM alone (no next-sentence task). Its tokenizer is
// byte-level BPE (tokenizer.json).

block roberta_embeddings(input_ids, token_type_ids) {
  description "word + token type + position embeddings (positions counted past the padding), then LayerNorm and dropout"
  let words = embedding(input_ids, name: "word_embeddings", rows: vocab_size, dim: hidden_size)
  let types = embedding(token_type_ids, name: "token_type_embeddings", rows: type_vocab_size, dim: hidden_size)
  let position_ids = padded_positions(input_ids, padding_idx: pad_token_id)
  let positions = embedding(position_ids, name: "position_embeddings", rows: max_position_embeddings, dim: hidden_size)
  let summed = add(words, types)
  let positioned = add(summed, positions)
  let normed = layer_norm(positioned, name: "LayerNorm", eps: layer_norm_eps)
  let out = dropout(normed, rate: hidden_dropout_prob)
  return out
}

block roberta_lm_head(x) {
  description "masked-LM head (RobertaLMHead, always the exact GELU); the decoder is tied to the word embeddings and has its own bias"
  let dense = linear(x, name: "dense", out: hidden_size)
  let activated = gelu(dense)
  let normed = layer_norm(activated, name: "layer_norm", eps: layer_norm_eps)
  let decoder = param(name: "/roberta.embeddings.word_embeddings.weight", shape: [vocab_size, hidden_size])
  let bias = param(name: "bias", shape: [vocab_size], init: zeros)
  let logits = linear(normed, decoder, bias)
  return logits
}

block roberta_classification_head(x) with (num_labels: int = 2) {
  description "the first token (<s>) through dropout, dense + tanh, dropout and out_proj (RobertaClassificationHead)"
  let first = select(x, axis: 1, index: 0)
  let dropped = dropout(first, rate: hidden_dropout_prob)
  let dense = linear(dropped, name: "dense", out: hidden_size)
  let activated = tanh(dense)
  let dropped2 = dropout(activated, rate: hidden_dropout_prob)
  let logits = linear(dropped2, name: "out_proj", out: num_labels)
  return logits
}

model roberta extends "bert.tcc" {
  config {
    vocab_size = 50265
    max_position_embeddings = 514
    type_vocab_size = 1
    layer_norm_eps = 0.00001
    pad_token_id = 1
  }
  require seq + pad_token_id < max_position_embeddings : "sequence length {seq} needs positions up to {seq} + pad_token_id ({pad_token_id}), beyond max_position_embeddings ({max_position_embeddings})"
  body scope "roberta" {
    let embedded = roberta_embeddings(input_ids, token_type_ids) @ "embeddings"
    let pooled = null
    output pooler_output = null
  }
  head mlm = roberta_lm_head(last_hidden_state) @ "lm_head" -> { prediction_logits: logits }
  head nsp = null

  // Masked LM alone (label -100 where nothing is predicted, as HuggingFace).

  training {
    input next_sentence_label = null
    loss nsp_loss = null
    metric nsp_acc = null
  }
}
