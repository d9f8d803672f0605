// BERT (Devlin et al. 2019) for pretraining: the BERT-base configuration with
// the masked-LM and next-sentence heads, as HuggingFace's BertForPreTraining.
model bert extends "lib/bert.tcc" {
  config {
    vocab_size = 30522
    hidden_size = 768
    num_hidden_layers = 12
    num_attention_heads = 12
    intermediate_size = 3072
    max_position_embeddings = 512
    type_vocab_size = 2
    hidden_dropout_prob = 0.1
    attention_probs_dropout_prob = 0.1
    hidden_act = gelu
    layer_norm_eps = 1e-12
    initializer_range = 0.02
    position_embedding_type = learned
    norm_placement = post
  }
  require hidden_size % num_attention_heads == 0 : "hidden_size ({hidden_size}) must be divisible by num_attention_heads ({num_attention_heads})"
  require seq <= max_position_embeddings || position_embedding_type == 'sinusoidal' : "sequence length {seq} exceeds max_position_embeddings ({max_position_embeddings})"
  input input_ids: i32[batch, seq]
  input token_type_ids: i32[batch, seq]
  input attention_mask: i32[batch, seq]
  body scope "bert" {
    let mask = extended_attention_mask(attention_mask)
    let embedded = bert_embeddings(input_ids, token_type_ids) @ "embeddings"
    let encoded = repeat num_hidden_layers { "{norm_placement}_ln_layer"(embedded, mask) @ "encoder.layer.{i}" }
    let sequence = "{norm_placement}_ln_final"(encoded) @ "encoder"
    let pooled = pooler(sequence) @ "pooler"
    output last_hidden_state = sequence
    output pooler_output = pooled
  }
  head mlm = mlm_head(last_hidden_state) @ "cls.predictions" -> { prediction_logits: logits }
  head nsp = nsp_head(pooler_output) @ "cls.seq_relationship" -> { seq_relationship_logits: logits }
  // Pretraining: masked LM over the labelled positions (label -100 elsewhere,
  // as HuggingFace) plus next-sentence prediction; `loss` is their sum.
  training {
    input labels: i32[batch, seq]
    input next_sentence_label: i32[batch]
    loss mlm_loss = cross_entropy(prediction_logits, labels)
    loss nsp_loss = cross_entropy(seq_relationship_logits, next_sentence_label)
    metric mlm_acc = accuracy(prediction_logits, labels)
    metric nsp_acc = accuracy(seq_relationship_logits, next_sentence_label)
  }
}
