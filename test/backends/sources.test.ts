// The C and Python that tcc writes around generated code are real files,
// checked here on their own: the native prelude compiles with every warning
// an error (with OpenMP and without), a rendered program that ends in the
// Node-API glue compiles the same way, and the Python of the torch export
// compiles.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { findCompiler } from '../../backends/native/build.js';
import { compileFile } from '../../compiler/compile.js';
import { buildProgram, programSources } from '../../compiler/program.js';

const toolchain = findCompiler();
const python = spawnSync('python3', ['--version']).status === 0;
const nodeApiInclude = (createRequire(import.meta.url)('node-api-headers') as { include_dir: string }).include_dir;

function cc(args: readonly string[]): { status: number | null; stderr: string } {
  const run = spawnSync(toolchain!.cc, ['-fsyntax-only', '-Wall', '-Wextra', '-Werror', ...args], { encoding: 'utf8' });
  return { status: run.status, stderr: run.stderr };
}

describe.runIf(toolchain)('the native backend\'s C', () => {
  it('compiles prelude.c on its own with every warning an error, with OpenMP and without', () => {
    expect(cc(['-fopenmp', 'backends/native/prelude.c'])).toEqual({ status: 0, stderr: '' });
    expect(cc(['-Wno-unknown-pragmas', 'backends/native/prelude.c'])).toEqual({ status: 0, stderr: '' });
  });

  it('compiles a rendered program, which ends in napi.c, with warnings as errors (generated code may leave a coordinate unused)', async () => {
    const { graph } = compileFile('models/bert-tiny.yaml', { batch: 2, seq: 16, mode: 'train' });
    const file = join(mkdtempSync(join(tmpdir(), 'tcc-c-')), 'kernels.c');
    writeFileSync(file, (await programSources(buildProgram(graph), 'cpu'))['kernels.c']!);
    expect(cc(['-fopenmp', '-Wno-unused-variable', '-Wno-unused-parameter', '-I', nodeApiInclude, file])).toEqual({ status: 0, stderr: '' });
  });
});

describe.runIf(python)('the torch export\'s Python', () => {
  it.each(['model_runtime.py', 'train.py'])('compiles %s', (name) => {
    const cfile = join(mkdtempSync(join(tmpdir(), 'tcc-py-')), 'out.pyc');
    const run = spawnSync('python3', ['-c', 'import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)', `compiler/export/python/${name}`, cfile], { encoding: 'utf8' });
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
  });
});
