// The JavaScript backend: the kernel IR rendered to JavaScript and run in
// this process (Node or a browser tab). It is the portable reference every
// other backend is tested against, and it runs wherever JavaScript does.

import type { Backend } from '../contract.js';
import { JS_INTRINSICS } from './expr.js';
import { hostProgram } from '../common/host-program.js';
import { functionNames } from '../../kernel/hash.js';
import { CpuExecutor } from './executor.js';
import { renderProgramJs } from './render.js';

const PREFIX = 'f_';

export const jsBackend: Backend = {
  name: 'js',
  title: 'JavaScript',
  summary: 'the portable JavaScript reference (runs anywhere)',
  device: 'cpu',
  target: 'cpu',
  outputs: ['kernels.js'],
  capabilities: { threads: false, systemCompiler: false, browser: true, findsNonFinite: true, intrinsics: JS_INTRINSICS, runtimeSizes: true },
  install: 'nothing (it runs wherever Node does)',
  render(program, kernels) {
    return Promise.resolve({ 'kernels.js': renderProgramJs(kernels, functionNames(kernels, PREFIX), program.model) });
  },
  probe: () => Promise.resolve({ ok: true, found: `${typeof process === 'object' && process.versions?.node ? `Node ${process.versions.node}` : 'this browser'}` }),
  examine() {
    return this.probe();
  },
  usesHostMemory: () => Promise.resolve(true),
  open(program, kernels, options) {
    const fns = functionNames(kernels, PREFIX);
    const executor = new CpuExecutor(hostProgram(program, fns), renderProgramJs(kernels, fns, program.model));
    executor.checkFinite = options.checkFinite ?? false;
    return Promise.resolve(executor);
  },
};
