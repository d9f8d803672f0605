// The WebAssembly backend: the kernel IR rendered to one WebAssembly module
// per program (emitted from TypeScript, 128-bit SIMD in its GEMM) and run
// in this process: Node or a browser tab, with no C compiler; in Node on
// worker threads over a shared memory (--threads, default every core).
// Composite scalar functions come expanded into primitive ones.

import type { Backend } from '../contract.js';
import { hostProgram } from '../common/host-program.js';
import { functionNames } from '../../kernel/hash.js';
import { ModuleBuilder } from './encode.js';

const PREFIX = 'f_';

/** Whether this engine validates 128-bit SIMD (a module with one v128 function); asked once. */
let simd: boolean | undefined;
function hasSimd(): boolean {
  if (simd !== undefined) return simd;
  if (typeof WebAssembly !== 'object') return (simd = false);
  const probe = new ModuleBuilder({ module: 'env', name: 'memory', initial: 1 });
  probe.func('simd', [], ['v128'], (c) => c.v128Zero());
  return (simd = WebAssembly.validate(probe.encode()));
}

export const wasmBackend: Backend = {
  name: 'wasm',
  title: 'WebAssembly',
  summary: 'WebAssembly with SIMD, generated here (no compiler needed)',
  device: 'cpu',
  target: 'cpu',
  outputs: [],
  capabilities: { threads: true, systemCompiler: false, browser: true, findsNonFinite: false, intrinsics: [], runtimeSizes: true },
  install: 'a JavaScript engine with WebAssembly SIMD (Node 16.4 or newer, any current browser)',
  render() {
    return Promise.resolve({});
  },
  probe: () => Promise.resolve(hasSimd() ? { ok: true, found: 'WebAssembly SIMD' } : { ok: false, found: 'this engine has no WebAssembly SIMD' }),
  examine() {
    return this.probe();
  },
  usesHostMemory: () => Promise.resolve(true),
  async open(program, kernels, options) {
    const [{ WasmExecutor }, { renderProgramWasm }] = await Promise.all([import('./executor.js'), import('./render.js')]);
    const fns = functionNames(kernels, PREFIX);
    return WasmExecutor.create({ ...hostProgram(program, fns), mode: program.mode }, kernels, (shared) => renderProgramWasm(kernels, fns, shared), options?.threads);
  },
};
