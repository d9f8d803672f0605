// BERT-large: L=24, H=1024, A=16.
model "bert-large" extends "bert-base.tcc" {
  config {
    hidden_size = 1024
    num_hidden_layers = 24
    num_attention_heads = 16
    intermediate_size = 4096
  }
}
