// The Spec: what a model file means, as plain data with a source location on
// everything a later error may point at. YAML files (and the DSL later)
// produce it; the frontend turns it into a graph.

import type { SourceLoc } from './diagnostics.js';

export type AttrLiteral = number | string | boolean | readonly (number | string)[];

export interface Located<T> {
  readonly value: T;
  readonly loc: SourceLoc;
}

/** An attribute's value, and where its key stands (for errors about the attribute itself). */
export interface AttrEntry extends Located<AttrLiteral> {
  readonly keyLoc: SourceLoc;
}

/** One statement of a body: `name: {op: ..., in: [...], scope: ..., attr: value, ...}`. */
export interface StepSpec {
  readonly name: string;
  readonly loc: SourceLoc;
  readonly op: Located<string>;
  readonly inputs: readonly Located<string>[];
  readonly scope?: Located<string>;
  readonly attrs: Readonly<Record<string, AttrEntry>>;
}

export interface BodySpec {
  readonly steps: readonly StepSpec[];
}

export interface BlockSpec {
  readonly name: string;
  readonly loc: SourceLoc;
  readonly inputs: readonly Located<string>[];
  /** Parameters of the block with their defaults; callers set them like attributes. */
  readonly params: Readonly<Record<string, Located<number | string | boolean>>>;
  /**
   * Config values this block and every block it instantiates see in place of
   * the model's (a sub-model at other sizes: ELECTRA's generator); numbers
   * are expressions over the config as the block's caller sees it.
   */
  readonly config: Readonly<Record<string, Located<number | string | boolean>>>;
  readonly body: BodySpec;
  readonly outputs: readonly Located<string>[];
}

export interface InputSpec {
  readonly name: string;
  readonly loc: SourceLoc;
  readonly dtype: 'f32' | 'i32';
  readonly shape: readonly Located<number | string>[];
}

export interface ModelSpec {
  readonly loc: SourceLoc;
  /** Prefix of parameter names in the model body ("bert"). */
  readonly scope?: Located<string>;
  readonly body: BodySpec;
  /** Graph outputs: name → value of the body. */
  readonly outputs: readonly { readonly name: string; readonly ref: Located<string> }[];
}

/** A head is a step over the model's values whose block outputs become graph outputs. */
export interface HeadSpec {
  readonly step: StepSpec;
  readonly outputs: readonly { readonly name: string; readonly ref: Located<string> }[];
}

export interface RequireSpec {
  readonly check: Located<string>;
  readonly message: string;
}

/** What a training graph adds: label inputs, losses (summed into `loss`), metrics, optimizer settings. */
export interface TrainingSpec {
  readonly inputs: readonly InputSpec[];
  readonly losses: BodySpec;
  readonly metrics: BodySpec;
  readonly optimizer: Readonly<Record<string, Located<number | string | boolean>>>;
}

export interface Spec {
  readonly name: string;
  readonly loc: SourceLoc;
  readonly description?: string;
  readonly config: Readonly<Record<string, Located<number | string | boolean>>>;
  readonly inputs: readonly InputSpec[];
  readonly blocks: Readonly<Record<string, BlockSpec>>;
  readonly model?: ModelSpec;
  readonly heads: readonly HeadSpec[];
  readonly requires: readonly RequireSpec[];
  readonly training: TrainingSpec;
  /** The config keys the spec's bases define (the rest its own file introduces). */
  readonly baseConfig?: readonly string[];
  /** The files it was loaded from: its own, then every base's, depth first (a HuggingFace directory stands for its config.json). */
  readonly lineage?: readonly string[];
  /** The family (a FAMILIES key) of the HuggingFace directory it was imported from, where it was. */
  readonly hfFamily?: string;
}

/**
 * A record's own entry: never an inherited one. Spec names come from users,
 * and 'constructor', 'toString' or '__proto__' must mean nothing more than
 * any other unknown name.
 */
export function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** How deep brackets, parentheses and YAML collections may nest in a spec: far beyond any model, far below the stack's limit. */
export const MAX_NESTING = 64;
