// BERT-tiny of Turc et al. 2019 ("Well-Read Students Learn Better"): L=2, H=128, heads 64 wide, intermediate 4H.
model "bert-tiny" extends "bert-base.tcc" {
  config {
    hidden_size = 128
    num_hidden_layers = 2
    num_attention_heads = 2
    intermediate_size = 512
  }
}
