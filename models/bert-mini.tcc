// BERT-mini of Turc et al. 2019 ("Well-Read Students Learn Better"): L=4, H=256, heads 64 wide, intermediate 4H.
model "bert-mini" extends "bert-base.tcc" {
  config {
    hidden_size = 256
    num_hidden_layers = 4
    num_attention_heads = 4
    intermediate_size = 1024
  }
}
