// BERT-base without heads: HuggingFace's BertModel (last_hidden_state, pooler_output).
model "bert-base-encoder" extends "bert-base.tcc" {
  heads = null
  training = null
}
