// BERT-small of Turc et al. 2019 ("Well-Read Students Learn Better"): L=4, H=512, heads 64 wide, intermediate 4H.
model "bert-small" extends "bert-base.tcc" {
  config {
    hidden_size = 512
    num_hidden_layers = 4
    num_attention_heads = 8
    intermediate_size = 2048
  }
}
