// The op registry: one table, built from the op families. Its type makes an op
// without a shape rule, an interpretation, a fusion class or a FLOP count a
// compile error; test/ir/registry.test.ts checks the same at run time.

import { attentionOps } from './attention.js';
import type { OpDef } from './def.js';
import { elementwiseOps } from './elementwise.js';
import { layoutOps } from './layout.js';
import { linalgOps } from './linalg.js';
import { reduceOps } from './reduce.js';
import { sourceOps } from './source.js';
import { trainingOps } from './training.js';

export const OPS = { ...sourceOps, ...elementwiseOps, ...layoutOps, ...reduceOps, ...linalgOps, ...attentionOps, ...trainingOps };

export type OpName = keyof typeof OPS;
export type AttrsOf<K extends OpName> = (typeof OPS)[K] extends OpDef<infer A> ? A : never;

export function isOpName(name: string): name is OpName {
  return Object.hasOwn(OPS, name);
}

export function opDef<K extends OpName>(op: K): OpDef<AttrsOf<K>> {
  return OPS[op] as unknown as OpDef<AttrsOf<K>>;
}

export type { AttrKind, AttrSpec, FusionClass, InitKind, InterpretContext, OpDef } from './def.js';
