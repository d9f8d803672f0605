// BERT-base for extractive question answering (BertForQuestionAnswering).
model "bert-base-qa" extends "bert-base.tcc" {
  head mlm = null
  head nsp = null
  head qa = qa_head(last_hidden_state) @ "qa_outputs" -> { start_logits: start, end_logits: end }
  training {
    input labels = null
    input next_sentence_label = null
    input start_positions: i32[batch]
    input end_positions: i32[batch]
    loss mlm_loss = null
    loss nsp_loss = null
    loss start_loss = half_cross_entropy(start_logits, start_positions)
    loss end_loss = half_cross_entropy(end_logits, end_positions)
    metric mlm_acc = null
    metric nsp_acc = null
    metric start_acc = accuracy(start_logits, start_positions)
    metric end_acc = accuracy(end_logits, end_positions)
  }
}
