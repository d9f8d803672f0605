// ELECTRA's generator, as HuggingFace's ElectraForMaskedLM at
// electra-small-generator's size: ELECTRA's embeddings and encoder, and a
// masked-LM head (generator_predictions: dense to embedding_size, GELU,
// LayerNorm; generator_lm_head tied to the word embeddings, with its own
// bias). It trains with the masked-LM loss alone.

block electra_generator_head(x) {
  description "generator_predictions (dense to embedding_size, GELU, LayerNorm), then generator_lm_head tied to the word embeddings"
  let dense = linear(x, name: "generator_predictions.dense", out: embedding_size)
  let activated = gelu(dense)
  let normed = layer_norm(activated, name: "generator_predictions.LayerNorm", eps: layer_norm_eps)
  let decoder = param(name: "/electra.embeddings.word_embeddings.weight", shape: [vocab_size, embedding_size])
  let bias = param(name: "generator_lm_head.bias", shape: [vocab_size], init: zeros)
  let logits = linear(normed, decoder, bias)
  return logits
}

model "electra-generator" extends "electra.tcc" {
  head discriminator = null
  head generator = electra_generator_head(last_hidden_state) -> { prediction_logits: logits }
  training {
    loss rtd_loss = null
    loss mlm_loss = cross_entropy(prediction_logits, labels)
    metric rtd_acc = null
    metric mlm_acc = accuracy(prediction_logits, labels)
  }
}
