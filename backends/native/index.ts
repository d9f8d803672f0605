// The native backend: the kernel IR rendered to C, built by the system's C
// compiler into a Node-API module (cached by its source) and loaded into
// this process. The fastest CPU backend where a C compiler is present.

import type { Backend } from '../contract.js';
import { C_INTRINSICS } from './expr.js';
import { hostProgram } from '../common/host-program.js';
import { functionNames } from '../../kernel/hash.js';
import { RunFailure } from '../../runtime/errors.js';

const PREFIX = 'f_';
const NO_COMPILER = 'no C compiler found (cc, gcc or $CC)';

/** The build tools and the renderer (which reads the C files beside it), loaded only where they can run (Node). */
const build = () => import('./build.js');
const renderer = () => import('./render.js');

export const nativeBackend: Backend = {
  name: 'native',
  title: 'native code',
  summary: 'C from the system\'s compiler, on OpenMP threads (fastest)',
  device: 'cpu',
  target: 'cpu',
  outputs: ['kernels.c'],
  capabilities: { threads: true, systemCompiler: true, browser: false, findsNonFinite: false, intrinsics: C_INTRINSICS, runtimeSizes: true },
  install: 'install gcc (with libgomp for OpenMP)',
  async render(program, kernels) {
    const { renderProgramC } = await renderer();
    return { 'kernels.c': renderProgramC(program, kernels, functionNames(kernels, PREFIX)) };
  },
  async probe() {
    const toolchain = await build().then((b) => b.findCompiler(), () => null);
    return toolchain ? { ok: true, found: toolchain.version } : { ok: false, found: NO_COMPILER };
  },
  async examine() {
    const probed = await this.probe();
    return probed.ok ? (await build()).checkOpenMp() : probed;
  },
  usesHostMemory: () => Promise.resolve(true),
  async open(program, kernels, options) {
    const [{ findCompiler }, { NativeExecutor }, { renderProgramC }] = await Promise.all([build(), import('./executor.js'), renderer()]);
    const toolchain = findCompiler();
    if (!toolchain) throw new RunFailure(NO_COMPILER);
    const fns = functionNames(kernels, PREFIX);
    return NativeExecutor.create(hostProgram(program, fns), renderProgramC(program, kernels, fns), toolchain, options);
  },
};
