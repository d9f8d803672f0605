// The JSON Schema of a spec file: structure and config types. ajv compiles
// it ahead of time into spec-validator.generated.ts (`npm run gen:schema`;
// a test fails when the two disagree), so that no command pays for
// compiling it on start.

const identifier = { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' };
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
    config: { type: 'object', propertyNames: identifier, additionalProperties: { type: ['number', 'string', 'boolean'] } },
    body,
    outputs: { type: ['string', 'array'], items: { type: 'string' } },
  },
};

/**
 * The sizes a config may give, far beyond any BERT (bert-large: 30522,
 * 1024, 24, 16, 4096, 512, 2) and far below what would exhaust memory or
 * time before a word of error: an absurd value is refused at its line.
 */
export const CONFIG_LIMITS = {
  vocab_size: [1, 1_000_000],
  hidden_size: [1, 16_384],
  num_hidden_layers: [0, 1_000],
  num_attention_heads: [1, 1_024],
  intermediate_size: [1, 65_536],
  max_position_embeddings: [1, 1_048_576],
  type_vocab_size: [0, 1_000],
} as const;

const limited = (key: keyof typeof CONFIG_LIMITS) => ({ type: 'integer', minimum: CONFIG_LIMITS[key][0], maximum: CONFIG_LIMITS[key][1] });

const config = {
  type: 'object',
  propertyNames: identifier,
  properties: {
    vocab_size: limited('vocab_size'),
    hidden_size: limited('hidden_size'),
    num_hidden_layers: limited('num_hidden_layers'),
    num_attention_heads: limited('num_attention_heads'),
    intermediate_size: limited('intermediate_size'),
    max_position_embeddings: limited('max_position_embeddings'),
    type_vocab_size: limited('type_vocab_size'),
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
