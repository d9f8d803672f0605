// The JSON Schema of a spec file, checked by ajv on each file before
// `extends` merges them, so that every error points into the file that has it.
// The schema checks structure and config types; the op-level checks (known
// ops, their attributes, shapes) need the op registry and live in the frontend.

import { Ajv, type ErrorObject } from 'ajv';
import { DiagnosticBag, didYouMean, type Diagnostic } from './diagnostics.js';
import { nodeAt, toPlain, type LNode } from './yaml.js';

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

const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(specSchema);

function pathText(pointer: string): string {
  return pointer.split('/').slice(1).join('.') || 'the spec';
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

/** Checks one spec file against the schema; each violation becomes a located diagnostic. */
export function checkSchema(root: LNode, bag: DiagnosticBag): boolean {
  if (validate(toPlain(root))) return true;
  const seen = new Set<string>();
  const found = new DiagnosticBag();
  for (const e of validate.errors ?? []) {
    const key = `${e.instancePath}|${e.keyword}|${JSON.stringify(e.params)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    reportSchemaError(root, e, found);
  }
  // In source order, as a reader goes through the file.
  const position = (d: Diagnostic) => (d.loc ? d.loc.line * 1e6 + d.loc.col : 0);
  for (const d of [...found.items].sort((a, b) => position(a) - position(b))) bag.error(d.loc, d.message);
  return false;
}

function reportSchemaError(root: LNode, e: ErrorObject, bag: DiagnosticBag): void {
  // Errors on a mapping key (propertyNames) carry the key's name beside the mapping's path.
  const at = nodeAt(root, e.propertyName === undefined ? e.instancePath : `${e.instancePath}/${e.propertyName}`);
  const loc = at?.node.loc ?? root.loc;
  const where = pathText(e.instancePath);
  switch (e.keyword) {
    case 'additionalProperties': {
      const field = (e.params as { additionalProperty: string }).additionalProperty;
      const entry = nodeAt(root, `${e.instancePath}/${field}`);
      const known = Object.keys((e.parentSchema as { properties?: object }).properties ?? {});
      bag.error(entry?.keyLoc ?? loc, `unknown field '${field}' in ${where}${didYouMean(field, known)}`);
      return;
    }
    case 'required':
      bag.error(at?.keyLoc ?? loc, `${where} is missing the field '${(e.params as { missingProperty: string }).missingProperty}'`);
      return;
    case 'type':
      bag.error(loc, `${where} must be ${String((e.params as { type: string | string[] }).type).replace(/,/g, ' or ')}, got ${describe(e.data)}`);
      return;
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String);
      bag.error(loc, `${where} must be one of ${allowed.join(', ')}, got ${describe(e.data)}${didYouMean(String(e.data), allowed)}`);
      return;
    }
    case 'pattern':
      bag.error(at?.keyLoc ?? loc, `'${e.propertyName ?? String(e.data)}' is not a valid name (letters, digits and _, not starting with a digit)`);
      return;
    case 'propertyNames':
      return; // reported through the 'pattern' error on the name itself
    default:
      bag.error(loc, `${where} ${e.message ?? 'is invalid'}, got ${describe(e.data)}`);
  }
}
