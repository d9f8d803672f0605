// A compiled program directory runs through the runtime alone, and gives
// what the in-memory compile gives.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { buildProgram } from '../../compiler/program.js';
import { initParams } from '../../runtime/init.js';
import { loadProgram } from '../../runtime/program-dir.js';
import { openSession } from '../../runtime/session.js';
import { tcc } from '../helpers/cli.js';

describe('program directory', () => {
  it('is written by tcc compile -o and runs without the compiler', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcc-program-'));
    expect((await tcc('compile', 'models/bert-tiny.yaml', '--batch', '2', '--seq', '5', '-o', dir)).code).toBe(0);
    const loaded = loadProgram(dir);
    expect(loaded.program.kernels.length).toBeGreaterThan(10);
    const inputs = { input_ids: [101, 7, 8, 9, 102, 101, 5, 102, 0, 0], token_type_ids: new Array(10).fill(0), attention_mask: [1, 1, 1, 1, 1, 1, 1, 1, 0, 0] };
    const fromDir = await openSession(loaded);
    const params = initParams(loaded.program.params, 3);
    fromDir.setParams(params);
    const a = await fromDir.run(inputs);

    const inMemory = await openSession(buildProgram(compileFile('models/bert-tiny.yaml', { batch: 2, seq: 5 }).graph));
    inMemory.setParams(params);
    const b = await inMemory.run(inputs);
    for (const name of Object.keys(b)) expect(Array.from(a[name]!.data), name).toEqual(Array.from(b[name]!.data));
    expect(Array.from(a['pooler_output']!.data).some((v) => v !== 0)).toBe(true);
  });

  it('reports a malformed directory in one line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcc-program-'));
    expect(() => loadProgram(dir)).toThrow(/cannot read .*program\.json/);
  });
});
