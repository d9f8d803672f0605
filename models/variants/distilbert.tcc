// A DistilBERT-like model (Sanh et al. 2019): 6 layers, no token types and no
// pooler, pretrained with the masked LM alone.

block distil_embeddings(input_ids) {
  description "word and position embeddings (no token types), LayerNorm and dropout"
  let words = embedding(input_ids, name: "word_embeddings", rows: vocab_size, dim: hidden_size)
  let positioned = learned_positions(words)
  let normed = layer_norm(positioned, name: "LayerNorm", eps: layer_norm_eps)
  let out = dropout(normed, rate: hidden_dropout_prob)
  return out
}

block distil_mlm_head(x) {
  description "masked-LM head; the decoder is tied to DistilBERT's word embeddings"
  let dense = linear(x, name: "vocab_transform", out: hidden_size)
  let activated = act(dense, fn: "{hidden_act}")
  let normed = layer_norm(activated, name: "vocab_layer_norm", eps: layer_norm_eps)
  let decoder = param(name: "/distilbert.embeddings.word_embeddings.weight", shape: [vocab_size, hidden_size])
  let bias = param(name: "vocab_projector.bias", shape: [vocab_size], init: zeros)
  let logits = linear(normed, decoder, bias)
  return logits
}

model distilbert extends "../bert-base.tcc" {
  config {
    num_hidden_layers = 6
  }
  input token_type_ids = null
  body scope "distilbert" {
    let embedded = distil_embeddings(input_ids) @ "embeddings"
    let pooled = null
    output pooler_output = null
  }
  head mlm = null
  head masked_lm = distil_mlm_head(last_hidden_state) -> { prediction_logits: logits }
  head nsp = null
  training {
    input next_sentence_label = null
    loss nsp_loss = null
    metric nsp_acc = null
  }
}
