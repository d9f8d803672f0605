// BERT-base with pre-LN layers (Xiong et al. 2020, "On Layer Normalization in
// the Transformer Architecture"): LayerNorm before each sublayer, and one more
// after the stack. Written only in the DSL: the block library has both layer
// forms, the config picks one.
model "bert-pre-ln" extends "../bert-base.tcc" {
  config {
    norm_placement = pre
  }
}
