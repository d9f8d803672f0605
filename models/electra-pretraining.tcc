// ELECTRA's pretraining (Clark et al. 2020) as one program: a small
// generator, trained with masked LM, fills the [MASK] positions with tokens
// drawn from its predictions (`sample`: Gumbel-max over the counter-based
// generator, so every backend draws the same tokens); the discriminator
// learns which tokens of that text were replaced. The two share the token,
// type and position embeddings (the paper's tying), and the loss is the
// generator's masked-LM loss plus 50 times the discriminator's (the paper's λ).
// The discriminator keeps ElectraForPreTraining's names; the generator's own
// layers are under electra.generator, its head under generator_predictions
// and generator_lm_head. Its sizes are electra-small's generator's: a quarter
// of the discriminator's hidden size, one head.

block electra_generator(embedded, mask) {
  description "the generator on the masked text, at its own sizes (embeddings_project, the encoder); its masked-LM head"
  config {
    hidden_size = generator_hidden_size
    num_attention_heads = generator_num_attention_heads
    intermediate_size = generator_intermediate_size
  }
  let projected = linear(embedded, name: "embeddings_project", out: hidden_size)
  let encoded = repeat num_hidden_layers { "{norm_placement}_ln_layer"(projected, mask) @ "encoder.layer.{i}" }
  let logits = electra_generator_head(encoded)
  return logits
}

block same_id(a, b) {
  description "1 where two i32 values are equal, 0 elsewhere, as f32 (ids are exact in f32 below 2^24)"
  let fa = cast(a, to: f32)
  let fb = cast(b, to: f32)
  let diff = sub(fa, fb)
  let negated = neg(diff)
  let distance = maximum(diff, negated)
  let half = fill(value: 0.5, shape: [])
  let apart = gt(distance, half)
  let out = affine(apart, scale: -1, shift: 1)
  return out
}

block choose_id(flag, a, b) {
  description "where the f32 flag is 1, the first i32 value, else the second"
  let fa = cast(a, to: f32)
  let fb = cast(b, to: f32)
  let diff = sub(fa, fb)
  let moved = mul(flag, diff)
  let chosen = add(fb, moved)
  let out = cast(chosen, to: i32)
  return out
}

block replaced_masks(input_ids, logits) {
  description "the text the discriminator reads, the [MASK] positions of the input filled with the generator's draws"
  let drawn = sample(logits, stream: 1000)
  let mask_id = fill(value: mask_token_id, shape: [], dtype: i32)
  let masked = same_id(input_ids, mask_id)
  let out = choose_id(masked, drawn, input_ids)
  return out
}

block replaced_labels(corrupted, input_ids, labels, attention_mask) {
  description "replaced-token labels: 1 where the text the discriminator read differs from the original (labels at the masked positions, the input elsewhere), 0 where it is the same, -100 at padding"
  let floats = cast(labels, to: f32)
  let bar = fill(value: -99.5, shape: [])
  let labelled = gt(floats, bar)
  let original = choose_id(labelled, labels, input_ids)
  let kept = same_id(corrupted, original)
  let replaced = affine(kept, scale: -1, shift: 1)
  let real = cast(attention_mask, to: f32)
  let ignored = affine(real, scale: 100, shift: -100)
  let kept_real = mul(replaced, real)
  let label = add(kept_real, ignored)
  let out = cast(label, to: i32)
  return out
}

block weighted_rtd_loss(logits, corrupted, input_ids, labels, attention_mask) {
  description "replaced-token detection's loss, times the paper's λ = 50"
  let target = replaced_labels(corrupted, input_ids, labels, attention_mask)
  let loss = replaced_token_loss(logits, target)
  let out = affine(loss, scale: 50)
  return out
}

block rtd_accuracy(logits, corrupted, input_ids, labels, attention_mask) {
  description "the share of real tokens the discriminator calls rightly replaced or original"
  let target = replaced_labels(corrupted, input_ids, labels, attention_mask)
  let out = replaced_token_accuracy(logits, target)
  return out
}

model "electra-pretraining" extends "electra-generator.tcc" {
  config {
    generator_hidden_size = 64
    generator_num_attention_heads = 1
    generator_intermediate_size = 256
    // [MASK] in BERT's uncased vocabulary (ELECTRA's).
    mask_token_id = 103
  }
  body {
    let masked_embedded = electra_embeddings(input_ids, token_type_ids) @ "embeddings"
    let generated = electra_generator(masked_embedded, mask) @ "generator"
    let corrupted = replaced_masks(input_ids, generated)
    let embedded = electra_embeddings(corrupted, token_type_ids) @ "embeddings"
    output prediction_logits = generated
    output corrupted_ids = corrupted
  }
  head generator = null
  head discriminator = electra_discriminator_head(last_hidden_state) @ "discriminator_predictions" -> { discriminator_logits: logits }
  training {
    loss rtd_loss = weighted_rtd_loss(discriminator_logits, corrupted_ids, input_ids, labels, attention_mask)
    metric rtd_acc = rtd_accuracy(discriminator_logits, corrupted_ids, input_ids, labels, attention_mask)
  }
}
