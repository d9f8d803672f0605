// The JSON Schema of a spec file: structure and config types. ajv compiles
// it ahead of time into spec-validator.generated.ts (`npm run gen:schema`;
// a test fails when the two disagree), so that no command pays for
// compiling it on start.

const identifier = { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' };
const positiveInt = { type: 'integer', minimum: 1 };
const probability = { type: 'number', minimum: 0, maximum: 1 };
/** Numbers may be literals or expressions over config values ("hidden_size / num_attention_heads"). */
const numberOrExpr = { type: ['number', 'string'] };
const attrValue = { type: ['number', 'string', 'boolean', 'array'], items: { type: ['number', 'string'] } };

// Null is allowed wherever an extending file may delete an inherited entry.
const step = {
  type: ['object', 'null'],
  required: ['op'],
  properties: {
    op: { type: 'string', minLength: 1 },
    in: { type: ['string', 'array'], items: { type: 'string' } },
    scope: { type: 'string' },
  },
  additionalProperties: attrValue,
};

const body = { type: 'object', propertyNames: identifier, additionalProperties: step };

const head = {
  ...step,
  properties: { ...step.properties, outputs: { type: 'object', propertyNames: identifier, additionalProperties: { type: 'string' } } },
};

const block = {
  type: ['object', 'null'],
  additionalProperties: false,
  required: ['body', 'outputs'],
  properties: {
    description: { type: 'string' },
    inputs: { type: 'array', items: identifier },
    params: { type: 'object', propertyNames: identifier, additionalProperties: { type: ['number', 'string', 'boolean'] } },
    body,
    outputs: { type: ['string', 'array'], items: { type: 'string' } },
  },
};

const config = {
  type: 'object',
  propertyNames: identifier,
  properties: {
    vocab_size: positiveInt,
    hidden_size: positiveInt,
    num_hidden_layers: { type: 'integer', minimum: 0 },
    num_attention_heads: positiveInt,
    intermediate_size: positiveInt,
    max_position_embeddings: positiveInt,
    type_vocab_size: { type: 'integer', minimum: 0 },
    hidden_dropout_prob: probability,
    attention_probs_dropout_prob: probability,
    hidden_act: { enum: ['gelu', 'gelu_tanh', 'relu'] },
    layer_norm_eps: { type: 'number', exclusiveMinimum: 0 },
    initializer_range: { type: 'number', minimum: 0 },
    position_embedding_type: { enum: ['learned', 'sinusoidal'] },
    norm_placement: { enum: ['post', 'pre'] },
    pad_token_id: { type: 'integer', minimum: 0 },
  },
  // Variants may add their own hyper-parameters; null deletes an inherited one.
  additionalProperties: { type: ['number', 'string', 'boolean', 'null'] },
};

const inputDecl = {
  type: ['object', 'null'],
  additionalProperties: false,
  required: ['dtype', 'shape'],
  properties: { dtype: { enum: ['f32', 'i32'] }, shape: { type: 'array', items: numberOrExpr } },
};

const training = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    inputs: { type: 'object', propertyNames: identifier, additionalProperties: inputDecl },
    losses: body,
    metrics: body,
    optimizer: { type: 'object', propertyNames: identifier, additionalProperties: { type: ['number', 'string', 'boolean', 'null'] } },
  },
};

export const specSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1 },
    description: { type: 'string' },
    extends: { type: ['string', 'array'], items: { type: 'string' } },
    config,
    inputs: { type: 'object', propertyNames: identifier, additionalProperties: inputDecl },
    training,
    blocks: { type: 'object', propertyNames: identifier, additionalProperties: block },
    model: {
      type: 'object',
      additionalProperties: false,
      properties: {
        scope: { type: 'string' },
        body,
        outputs: { type: 'object', propertyNames: identifier, additionalProperties: { type: ['string', 'null'] } },
      },
    },
    heads: { type: ['object', 'null'], propertyNames: identifier, additionalProperties: head },
    requires: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['check', 'message'],
        properties: { check: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
} as const;
