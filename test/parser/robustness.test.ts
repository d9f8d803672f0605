// Garbled spec files (random deletions, insertions and truncations of a real
// one) always end in diagnostics or a graph, never in another exception.

import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { CompileError } from '../../compiler/parser/diagnostics.js';
import { modelsDir, specFiles } from '../helpers/cli.js';

const library = readFileSync('models/lib/bert.yaml', 'utf8');
const model = readFileSync('models/bert.yaml', 'utf8').replace('extends: lib/bert.yaml', `extends: ${modelsDir()}/lib/bert.yaml`);

const edit = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom(':', '{', '}', '[', ']', ',', '- ', '\n', '  ', 'x', '0', '-1', '"', 'op: ', 'null', '*a', '&a ') }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(), length: fc.constant(0) }),
);

function garble(text: string, edits: { kind: string; at: number; length?: number; text?: string }[]): string {
  for (const e of edits) {
    const at = e.at % (text.length + 1);
    if (e.kind === 'delete') text = text.slice(0, at) + text.slice(at + e.length!);
    else if (e.kind === 'insert') text = text.slice(0, at) + e.text + text.slice(at);
    else text = text.slice(0, at);
  }
  return text;
}

function compilesOrDiagnoses(files: Record<string, string>, main: string): void {
  const paths = specFiles(files);
  try {
    compileFile(paths[main]!, { batch: 1, seq: 8 });
  } catch (e) {
    if (!(e instanceof CompileError) || e.diagnostics.length === 0) throw e;
  }
}

describe('garbled specs', () => {
  it('give diagnostics, never an exception (model file)', () => {
    fc.assert(fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => compilesOrDiagnoses({ 'm.yaml': garble(model, edits) }, 'm.yaml')), { numRuns: 300 });
  });

  it('give diagnostics, never an exception (block library)', () => {
    const main = model.replace(`${modelsDir()}/lib/bert.yaml`, 'lib.yaml');
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => compilesOrDiagnoses({ 'm.yaml': main, 'lib.yaml': garble(library, edits) }, 'm.yaml')),
      { numRuns: 300 },
    );
  });
});
