// Before/after tests of passes in the IR's own text: the input graph is
// parsed, the pass runs, and the printed result must equal the expected
// text (both trimmed of common indentation).

import { expect } from 'vitest';
import type { Graph } from '../../compiler/ir/graph.js';
import { parseGraph } from '../../compiler/ir/parse.js';
import { printGraph } from '../../compiler/ir/print.js';
import { verifyGraph } from '../../compiler/ir/verify.js';

/** Text without the indentation its lines share, and without blank edges. */
export function dedent(text: string): string {
  const lines = text.replace(/^\n+|\s+$/g, '').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => /^ */.exec(l)![0].length));
  return lines.map((l) => l.slice(indent)).join('\n') + '\n';
}

export function ir(text: string): Graph {
  return parseGraph(dedent(text));
}

/** The pass turns `before` into `after`, and its result verifies. */
export function expectPass(pass: (g: Graph) => Graph, before: string, after: string): void {
  const result = pass(ir(before));
  verifyGraph(result);
  expect(printGraph(result)).toBe(dedent(after));
}
