// ELECTRA (Clark et al. 2020), the discriminator, as HuggingFace's
// ElectraForPreTraining at electra-small's size: embeddings in embedding_size
// dimensions projected to hidden_size (embeddings_project), BERT's encoder
// without a pooler, and a head that scores every token as original or
// replaced. models/electra-generator.yaml is the generator that replaces
// them. HuggingFace's names throughout; the tokenizer is BERT's uncased
// WordPiece vocabulary.

block electra_embeddings(input_ids, token_type_ids) {
  description "word, token type and position embeddings in embedding_size dimensions, LayerNorm and dropout"
  let words = embedding(input_ids, name: "word_embeddings", rows: vocab_size, dim: embedding_size)
  let types = embedding(token_type_ids, name: "token_type_embeddings", rows: type_vocab_size, dim: embedding_size)
  let ids = range(size: seq)
  let positions = embedding(ids, name: "position_embeddings", rows: max_position_embeddings, dim: embedding_size)
  let summed = add(words, types)
  let positioned = add(summed, positions)
  let normed = layer_norm(positioned, name: "LayerNorm", eps: layer_norm_eps)
  let out = dropout(normed, rate: hidden_dropout_prob)
  return out
}

block electra_projection(x) {
  description "embeddings_project, from embedding_size to hidden_size (HuggingFace has it only where they differ)"
  let out = linear(x, name: "embeddings_project", out: hidden_size)
  return out
}

block electra_no_projection(x) {
  description "nothing, where embedding_size is hidden_size"
  return x
}

block electra_discriminator_head(x) {
  description "dense, activation and dense_prediction per token (ElectraDiscriminatorPredictions); a logit per token, replaced > 0"
  let dense = linear(x, name: "dense", out: hidden_size)
  let activated = act(dense, fn: "{hidden_act}")
  let scores = linear(activated, name: "dense_prediction", out: 1)
  let logits = reshape(scores, shape: [batch, seq])
  return logits
}

block replaced_token_pair(logits) {
  description "a token's replaced-or-not logit z as two-class logits [0, z]: their softmax is (1 - sigmoid(z), sigmoid(z)), so cross-entropy over them is the binary cross-entropy of z"
  let column = reshape(logits, shape: [batch, seq, 1])
  let zeros = fill(value: 0, shape: [batch, seq, 1])
  let out = concat(zeros, column, axis: -1)
  return out
}

block replaced_token_loss(logits, labels) {
  description "replaced-token detection's loss, the binary cross-entropy of every labelled token (1 replaced, 0 original, -100 padding)"
  let pair = replaced_token_pair(logits)
  let out = cross_entropy(pair, labels)
  return out
}

block replaced_token_accuracy(logits, labels) {
  description "the share of labelled tokens whose logit has the label's sign"
  let pair = replaced_token_pair(logits)
  let out = accuracy(pair, labels)
  return out
}

block electra_classification_head(x) with (num_labels: int = 2) {
  description "the first token through dropout, dense, GELU, dropout and out_proj (ElectraClassificationHead)"
  let first = select(x, axis: 1, index: 0)
  let dropped = dropout(first, rate: hidden_dropout_prob)
  let dense = linear(dropped, name: "dense", out: hidden_size)
  let activated = gelu(dense)
  let dropped2 = dropout(activated, rate: hidden_dropout_prob)
  let logits = linear(dropped2, name: "out_proj", out: num_labels)
  return logits
}

model electra extends "bert.tcc" {
  config {
    embedding_size = 128
    hidden_size = 256
    num_attention_heads = 4
    intermediate_size = 1024
  }
  body scope "electra" {
    let embedded = electra_embeddings(input_ids, token_type_ids) @ "embeddings"
    let projected = electra_projection(embedded)
    let encoded = repeat num_hidden_layers { "{norm_placement}_ln_layer"(projected, mask) @ "encoder.layer.{i}" }
    let pooled = null
    output pooler_output = null
  }
  head mlm = null
  head nsp = null
  head discriminator = electra_discriminator_head(last_hidden_state) @ "discriminator_predictions" -> { discriminator_logits: logits }

  // Replaced-token detection given its labels: input_ids hold the corrupted
  // text, labels say which tokens were replaced (1), kept (0) or padding (-100).
  // (Drawing the replacements from the generator during pretraining is not
  // built yet.)

  training {
    input next_sentence_label = null
    loss mlm_loss = null
    loss nsp_loss = null
    loss rtd_loss = replaced_token_loss(discriminator_logits, labels)
    metric mlm_acc = null
    metric nsp_acc = null
    metric rtd_acc = replaced_token_accuracy(discriminator_logits, labels)
  }
}
