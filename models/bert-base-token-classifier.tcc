// BERT-base for token classification (BertForTokenClassification), e.g. 9 BIO tags for CoNLL-2003 NER.
model "bert-base-token-classifier" extends "bert-base.tcc" {
  head mlm = null
  head nsp = null
  head classifier = token_classifier(last_hidden_state, num_labels: 9) @ "classifier" -> { logits: logits }
  training {
    input next_sentence_label = null
    loss mlm_loss = null
    loss nsp_loss = null
    loss token_classification_loss = cross_entropy(logits, labels)
    metric mlm_acc = null
    metric nsp_acc = null
    metric accuracy = accuracy(logits, labels)
  }
}
