// A program directory is data. Probes of a shared directory edited by a
// hostile hand: kernel sources that would run code of their own, a
// program.json whose layout, kernels or inputs were changed so that the
// code would read or write outside its buffers. None of it may run code,
// crash the process or touch memory outside the program's buffers: each
// edit is refused in one line naming program.json and the field, or runs
// the program as the compiler wrote it.

import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../../runtime/safetensors.js';
import { modelsDir, tcc } from '../helpers/cli.js';
import { findCompiler } from '../../backends/native/build.js';

const native = findCompiler() !== null;

const SPEC = `extends: ${modelsDir()}/bert.yaml\nconfig: {vocab_size: 40, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 16}\n`;

interface Workspace {
  readonly dir: string;
  readonly prog: string;
  readonly json: Record<string, unknown>;
  /** A run's outputs as the compiler wrote the program. */
  readonly baseline: Record<string, number[]>;
}

let ws: Workspace;

function outputs(file: string): Record<string, number[]> {
  return Object.fromEntries(Object.entries(readSafetensors(readFileSync(file), file).tensors).map(([name, t]) => [name, Array.from(t.data)]));
}

const run = (prog: string, backend: string, dir = ws.dir, inputs = 'in.json') => tcc('run', '--model', prog, '--inputs', join(dir, inputs), '--out', join(dir, 'o.safetensors'), '--backend', backend, '--seed', '3');

/** A copy of the program directory with program.json edited. */
function edited(edit: (program: any) => void): string {
  const prog = mkdtempSync(join(ws.dir, 'edit-'));
  const program = structuredClone(ws.json);
  edit(program);
  writeFileSync(join(prog, 'program.json'), JSON.stringify(program));
  return prog;
}

async function refused(prog: string, message: RegExp, backend = 'js'): Promise<void> {
  const start = performance.now();
  const { code, stderr } = await run(prog, backend);
  expect(stderr, stderr).toMatch(message);
  expect(stderr).toMatch(/program\.json: /);
  expect(code, stderr).toBe(2);
  expect(stderr.trim().split('\n')).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at /m);
  expect((performance.now() - start) / 1000).toBeLessThan(10);
}

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tcc-trust-'));
  writeFileSync(join(dir, 'm.yaml'), SPEC);
  writeFileSync(join(dir, 'in.json'), '{"input_ids": [[2, 5, 6, 3]]}');
  const prog = join(dir, 'prog');
  expect((await tcc('compile', join(dir, 'm.yaml'), '--seq', '4', '-o', prog)).code).toBe(0);
  expect((await tcc('compile', join(dir, 'm.yaml'), '--seq', '4', '--target', 'wgsl', '-o', join(dir, 'wgsl'))).code).toBe(0);
  const first = await tcc('run', '--model', prog, '--inputs', join(dir, 'in.json'), '--out', join(dir, 'base.safetensors'), '--backend', 'js', '--seed', '3');
  expect(first.code, first.stderr).toBe(0);
  ws = { dir, prog, json: JSON.parse(readFileSync(join(prog, 'program.json'), 'utf8')), baseline: outputs(join(dir, 'base.safetensors')) };
});

describe('a program directory is data', () => {
  it('never runs its kernel sources: an edited kernels.c, kernels.js or WGSL module changes nothing', async () => {
    const marker = join(ws.dir, 'pwned');
    const prog = join(ws.dir, 'prog');
    // A constructor that runs at load, and a kernel that imports child_process.
    writeFileSync(join(prog, 'kernels.c'), `#include <stdlib.h>\n__attribute__((constructor)) static void own(void) { system("touch ${marker}"); }\n` + readFileSync(join(prog, 'kernels.c'), 'utf8'));
    writeFileSync(join(prog, 'kernels.js'), `import('node:child_process').then((c) => c.execSync('touch ${marker}'));\n` + readFileSync(join(prog, 'kernels.js'), 'utf8'));
    for (const file of readdirSync(join(ws.dir, 'wgsl', 'wgsl'))) writeFileSync(join(ws.dir, 'wgsl', 'wgsl', file), '@compute @workgroup_size(1) fn main() { loop {} }\n');
    for (const backend of ['js', ...(native ? ['native'] : [])]) {
      const result = await run(prog, backend);
      expect(result.code, result.stderr).toBe(0);
      expect(existsSync(marker)).toBe(false);
      const got = outputs(join(ws.dir, 'o.safetensors'));
      for (const [name, values] of Object.entries(ws.baseline)) {
        const worst = Math.max(...values.map((v, i) => Math.abs(v - got[name]![i]!) / Math.max(1, Math.abs(v))));
        expect(worst, `${backend} ${name}`).toBeLessThan(1e-4);
      }
    }
    // The WGSL directory's program runs on the CPU too: the kernel IR is the same for every backend.
    expect((await run(join(ws.dir, 'wgsl'), 'js')).code).toBe(0);
  });

  it('refuses a layout edited to agree with itself but not with the kernels: regions, offsets, sizes', async () => {
    // Every buffer shrunk to one element, and the regions with them: the kernels' ranges no longer fit.
    await refused(edited((p) => { for (const b of p.buffers) b.size = 1; }), /(inputs|params|kernels)\[\d+\]\.(shape|args\[\d+\]\.size): elements \[\d+, \d+\) reach past buffer \d+'s 1$/m);
    // An arena buffer moved past its region, with the region grown to hold it.
    await refused(edited((p) => { const b = p.buffers.find((x: any) => x.region === 'arena'); b.offset = 1 << 30; }), /buffers\[\d+\]\.size: the buffer ends at byte \d+, past the arena region's/);
    await refused(edited((p) => { p.buffers[3].offset = -256; }), /buffers\[3\]\.offset: -256 is out of range/);
    await refused(edited((p) => { p.buffers[3].offset = 100; }), /buffers\[3\]\.offset: 100 is not a multiple of 256/);
    await refused(edited((p) => { p.kernels[2].args[0].offset = 3; }), /kernels\[2\]\.args\[0\]\.offset: 3 is not a multiple of 64/);
    await refused(edited((p) => { p.kernels[2].args[0].size += 1 << 20; }), /kernels\[2\]\.args\[0\]\.size: elements \[0, \d+\) reach past buffer/);
    await refused(edited((p) => { p.kernels[2].args[0].buffer = 99999; }), /kernels\[2\]\.args\[0\]\.buffer: 99999 is out of range/);
    await refused(edited((p) => { p.kernels = null; }), /kernels: expected a list, got null/);
    await refused(edited((p) => { p.kernels[0].function = 1e6; }), /kernels\[0\]\.function: 1000000 is out of range/);
    await refused(edited((p) => { p.persistentBytes = 'lots'; }), /persistentBytes: expected an integer, got 'lots'/);
    await refused(edited((p) => { p.inputs[0].shape = [1, 1e9]; }), /inputs\[0\]\.shape: elements \[0, 1000000000\) reach past buffer/);
    await refused(edited((p) => { p.__proto__ = { polluted: true }; p.format = 'tcc.program.v3'; }), /format: 'tcc\.program\.v3' is not tcc\.program\.v5; compile the model again with this tcc/);
  });

  it('refuses kernels whose IR would read or write outside their ranges, on every backend', async () => {
    const fn = (p: any) => p.functions.findIndex((f: any) => f.kind === 'map' || f.kind === 'reduce');
    // A store's index moved by a constant past its arg.
    const shifted = (p: any) => {
      const f = p.functions[fn(p)];
      const store = (f.stores.length ? f.stores : f.elementStores)[0];
      f.nodes.push({ op: 'const', type: 'i32', value: 1 << 24 }, { op: 'binary', type: 'i32', fn: 'add', a: store.index, b: f.nodes.length });
      store.index = f.nodes.length - 1;
    };
    for (const backend of ['js', ...(native ? ['native'] : [])]) {
      await refused(edited(shifted), /kernels\[\d+\]: kernel k\d+_\w+ \((map|reduce)\): a store to arg \d in (a|an element) store reaches \[\d+, \d+\], outside \[0, \d+\)/, backend);
    }
    // A load of a token id with its clamp taken out: the id could index past the table.
    await refused(edited((p) => {
      for (const f of p.functions) for (const n of f.nodes) if (n.op === 'binary' && n.fn === 'min' && f.nodes[n.a]?.fn === 'max') { n.fn = 'add'; n.b = f.nodes.findIndex((x: any) => x.op === 'const' && x.type === 'i32' && x.value === 0); }
    }), /reaches \[-Infinity, Infinity\], outside \[0, \d+\)/);
    // A division by a loaded value, an expression 10,000 deep, a node naming a later one, a foreign field.
    await refused(edited((p) => {
      const f = p.functions[fn(p)];
      const store = (f.stores.length ? f.stores : f.elementStores)[0];
      f.nodes.push({ op: 'const', type: 'i32', value: 0 }, { op: 'binary', type: 'i32', fn: 'idiv', a: store.index, b: f.nodes.length });
      store.index = f.nodes.length - 1;
    }), /divides by a value that may be zero or negative/);
    await refused(edited((p) => {
      const f = p.functions[fn(p)];
      const start = f.nodes.length;
      f.nodes.push({ op: 'const', type: 'f32', value: 1 });
      for (let i = 0; i < 10_000; i++) f.nodes.push({ op: 'unary', type: 'f32', fn: 'exp', x: start + i });
    }), /functions\[\d+\]\.nodes\[\d+\]: nests expressions more than 400 deep/);
    await refused(edited((p) => { p.functions[0].nodes[0] = { op: 'unary', type: 'f32', fn: 'exp', x: 5 }; }), /functions\[0\]\.nodes\[0\]\.x: 5 is out of range \[0, -1\]/);
    await refused(edited((p) => { p.functions[0].nodes[0].code = 'system("x")'; }), /functions\[0\]\.nodes\[0\]\.code: is not a field here/);
    await refused(edited((p) => { p.kernels[0].label = 'x\n}; system("touch /tmp/x"); {'; }), /kernels\[0\]\.label: holds a control character/);
    // A kernel kind this runtime does not render.
    await refused(edited((p) => { p.functions[0].kind = 'loss'; }), /functions\[0\]\.kind: .*'loss'/);
  });

  it('checks token ids against the tables the kernels gather from, whatever program.json declares', async () => {
    writeFileSync(join(ws.dir, 'far.json'), '{"input_ids": [[2, 5, 4000, 3]]}');
    const unbounded = edited((p) => { for (const input of p.inputs) delete input.bound; });
    for (const backend of ['js', ...(native ? ['native'] : [])]) {
      const { code, stderr } = await run(unbounded, backend, ws.dir, 'far.json');
      expect(stderr).toMatch(/far\.json: input_ids\[0\]\[2\] = 4000 is out of range \[0, 40\)/);
      expect(code).toBe(2);
    }
  });
});
