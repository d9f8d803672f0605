// BERT-base for sequence classification (BertForSequenceClassification), e.g. SST-2's two labels.
model "bert-base-classifier" extends "bert-base.tcc" {
  head mlm = null
  head nsp = null
  head classifier = sequence_classifier(pooler_output, num_labels: 2) @ "classifier" -> { logits: logits }
  training {
    input labels: i32[batch]
    input next_sentence_label = null
    loss mlm_loss = null
    loss nsp_loss = null
    loss classification_loss = cross_entropy(logits, labels)
    metric mlm_acc = null
    metric nsp_acc = null
    metric accuracy = accuracy(logits, labels)
  }
}
