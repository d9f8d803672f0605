// BERT-base with the original Transformer's fixed sinusoidal positions
// (Vaswani et al. 2017) instead of learned ones: no position_embeddings
// parameter, and sequences longer than max_position_embeddings are allowed.
model "bert-sinusoidal" extends "../bert-base.tcc" {
  config {
    position_embedding_type = sinusoidal
  }
}
