// `tcc doctor`: what this machine gives tcc, piece by piece, and what each
// missing piece costs: Node, every registered backend (the native one
// builds a small OpenMP program; WebGPU says whether its adapter is a
// software one), Chromium for the web page's tests, and Python with PyTorch
// for the torch export's checks.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ANY_CPU, BACKENDS, type Backend } from '../backends/registry.js';
import { parse } from './args.js';
import { UsageError, type Io } from './errors.js';

export const doctorUsage = `usage: tcc doctor [--json]

Checks what tcc can use on this machine (Node, each backend: ${BACKENDS.map((b) => b.name).join(', ')}; Chromium,
Python with PyTorch) and says what each missing piece costs. --json prints
one object instead.`;

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

/** Each registered backend: whether it runs here, what was found, and what runs without it. */
async function backends(): Promise<Check[]> {
  const checks: Check[] = [];
  for (const backend of BACKENDS) {
    const state = await backend.examine();
    checks.push({ name: backend.name, ok: state.ok, found: state.found, ...(state.ok ? {} : { cost: `${await without(backend)}; ${backend.install}` }) });
  }
  return checks;
}

/** What tcc does when a backend cannot run: the next CPU backend takes the CPU's work; a GPU backend's work needs --backend cpu. */
async function without(backend: Backend): Promise<string> {
  if (backend.device !== 'cpu') return `--backend ${backend.name} cannot run here; the CPU backends can`;
  for (const other of BACKENDS) {
    if (other !== backend && other.device === 'cpu' && (await other.probe()).ok) return `--backend ${ANY_CPU} runs ${other.title} instead of ${backend.title}`;
  }
  return 'no CPU backend runs here';
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
  const checks = [node(), ...(await backends()), chromium(), python()];
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
