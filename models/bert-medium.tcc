// BERT-medium of Turc et al. 2019 ("Well-Read Students Learn Better"): L=8, H=512, heads 64 wide, intermediate 4H.
model "bert-medium" extends "bert-base.tcc" {
  config {
    hidden_size = 512
    num_hidden_layers = 8
    num_attention_heads = 8
    intermediate_size = 2048
  }
}
