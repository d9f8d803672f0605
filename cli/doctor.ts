// `tcc doctor`: what this machine gives tcc, piece by piece, and what each
// missing piece costs: Node, the C compiler (with OpenMP) for native CPU
// code, a WebGPU adapter (and whether it is a software one), Chromium for the
// web page's tests, and Python with PyTorch for the torch export's checks.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from './args.js';
import { UsageError, type Io } from './errors.js';

export const doctorUsage = `usage: tcc doctor [--json]

Checks what tcc can use on this machine (Node, a C compiler with OpenMP, a
WebGPU adapter, Chromium, Python with PyTorch) and says what each missing
piece costs. --json prints one object instead.`;

interface Check {
  readonly name: string;
  readonly ok: boolean;
  /** What was found, or why not. */
  readonly found: string;
  /** What tcc does without it (only when missing). */
  readonly cost?: string;
}

const MIN_NODE = 20;

function node(): Check {
  const major = Number(process.versions.node.split('.')[0]);
  return { name: 'node', ok: major >= MIN_NODE, found: `Node ${process.versions.node}`, ...(major >= MIN_NODE ? {} : { cost: `tcc needs Node ${MIN_NODE} or newer` }) };
}

/** The C compiler, proved by building a small OpenMP program (what the native backend needs). */
async function compiler(): Promise<Check> {
  const { findCompiler } = await import('../backends/c/build.js');
  const cost = 'the CPU backend runs the JavaScript kernels instead of native code (tens of times slower); install gcc';
  const toolchain = findCompiler();
  if (!toolchain) return { name: 'c-compiler', ok: false, found: 'no cc, gcc or $CC', cost };
  const dir = mkdtempSync(join(tmpdir(), 'tcc-doctor-'));
  try {
    writeFileSync(join(dir, 'p.c'), '#include <omp.h>\nint main(void) { int n = 0;\n#pragma omp parallel reduction(+:n)\n n += 1;\n return n > 0 ? 0 : 1; }\n');
    const built = spawnSync(toolchain.cc, ['-O2', '-fopenmp', '-o', join(dir, 'p'), join(dir, 'p.c')], { encoding: 'utf8' });
    if (built.status !== 0) return { name: 'c-compiler', ok: false, found: `${toolchain.version}, but it cannot build with OpenMP (${(built.stderr || '').split('\n')[0]})`, cost: `${cost} (or libgomp)` };
    return { name: 'c-compiler', ok: spawnSync(join(dir, 'p')).status === 0, found: `${toolchain.version}, OpenMP works` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function webgpu(): Promise<Check> {
  const cost = '--backend webgpu and tcc serve\'s tests cannot run here; the CPU backends can';
  try {
    const { acquireDevice, describeAdapter, isSoftwareAdapter } = await import('../backends/wgsl/device.js');
    const { info, device } = await acquireDevice();
    const software = isSoftwareAdapter(info);
    device.destroy();
    return { name: 'webgpu', ok: true, found: `${describeAdapter(info)}${software ? ' — a software adapter on the CPU: it runs WebGPU correctly, but its timings are not a GPU\'s' : ''}` };
  } catch (e) {
    return { name: 'webgpu', ok: false, found: (e as Error).message.split('\n')[0]!, cost };
  }
}

function chromium(): Check {
  const candidates = [process.env['CHROMIUM'], '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].filter((c): c is string => !!c);
  const found = candidates.find((c) => existsSync(c));
  if (!found) return { name: 'chromium', ok: false, found: 'no chromium, chromium-browser or google-chrome', cost: "the web page's and the pictures' browser tests are skipped; tcc serve still serves any browser with WebGPU" };
  const version = spawnSync(found, ['--version'], { encoding: 'utf8' }).stdout?.trim();
  return { name: 'chromium', ok: true, found: version || found };
}

function python(): Check {
  const candidates = ['python3', '/usr/bin/python3'];
  for (const p of candidates) {
    const run = spawnSync(p, ['-c', 'import torch, sys; print(torch.__version__, sys.version.split()[0])'], { encoding: 'utf8' });
    if (run.status === 0) return { name: 'python-torch', ok: true, found: `${p}: torch ${run.stdout.trim().replace(' ', ', Python ')}` };
  }
  const any = candidates.find((p) => spawnSync(p, ['--version']).status === 0);
  return {
    name: 'python-torch',
    ok: false,
    found: any ? `${any} without torch` : 'no python3',
    cost: "tcc export --format torch still writes model.py and train.py, but nothing here can run them, and the torch checks are skipped (Debian: apt-get install python3-torch)",
  };
}

export async function runDoctor(argv: string[], _debug: boolean, io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    io.stdout.write(doctorUsage + '\n');
    return 0;
  }
  if (positionals.length) throw new UsageError(`doctor takes no arguments, got '${positionals[0]}'`);
  const checks = [node(), await compiler(), await webgpu(), chromium(), python()];
  if (values.json) {
    io.stdout.write(JSON.stringify({ checks }) + '\n');
    return 0;
  }
  for (const c of checks) {
    io.stdout.write(`${c.ok ? 'ok     ' : 'missing'} ${c.name.padEnd(13)} ${c.found}\n`);
    if (c.cost) io.stdout.write(`        ${' '.repeat(13)} without it: ${c.cost}\n`);
  }
  const missing = checks.filter((c) => !c.ok).length;
  io.stdout.write(missing ? `${missing} of ${checks.length} pieces missing; tcc runs without them, as said above\n` : 'everything tcc can use is here\n');
  return 0;
}
