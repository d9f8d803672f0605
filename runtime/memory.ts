// A program's memory, known before anything is allocated: its parameters,
// optimizer state and inputs (the persistent region) and the activations the
// memory planner laid out (the arena). Checked against what this machine (or
// its container) has available, so that a model too large for it is one line
// with the figure, not an allocation failure or the kernel's OOM killer later.

import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { Program } from './program.js';

export interface PlannedMemory {
  readonly params: number;
  readonly state: number;
  /** Persistent bytes besides parameters and state: inputs, gradient accumulators. */
  readonly other: number;
  readonly arena: number;
  readonly total: number;
}

const tensorBytes = (ts: readonly { readonly shape: readonly number[] }[]) => ts.reduce((a, t) => a + 4 * t.shape.reduce((x, d) => x * d, 1), 0);

export function plannedMemory(program: Program): PlannedMemory {
  const params = tensorBytes(program.params);
  const state = tensorBytes(program.states);
  return { params, state, other: Math.max(0, program.persistentBytes - params - state), arena: program.arenaBytes, total: program.persistentBytes + program.arenaBytes };
}

function readNumber(file: string): number | undefined {
  try {
    const text = readFileSync(file, 'utf8').trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/** Bytes this process could still allocate: the machine's available memory, or its cgroup's room if that is less. */
export function availableMemory(): number {
  let available = os.freemem();
  try {
    const kb = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1];
    if (kb !== undefined) available = Number(kb) * 1024;
  } catch {
    // Not Linux: os.freemem() it is.
  }
  const limits: [string, string][] = [['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory.current'], ['/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/memory/memory.usage_in_bytes']];
  for (const [max, current] of limits) {
    const limit = readNumber(max);
    const used = readNumber(current);
    if (limit !== undefined && used !== undefined && limit < 2 ** 60) available = Math.min(available, limit - used);
  }
  return available;
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(bytes < 2 ** 30 ? 2 : 1)} GiB`;

/** Why the program does not fit in `available` bytes, with what to change; undefined when it fits. */
export function memoryShortfall(program: Program, available: number): string | undefined {
  const m = plannedMemory(program);
  if (m.total <= available) return undefined;
  const recompute = program.mode === 'train' && !(program.report?.passes ?? []).includes('recompute') ? ', or --recompute layer' : '';
  return `the ${program.model} program needs ${gib(m.total)} (parameters ${gib(m.params)}, ${program.mode === 'train' ? `optimizer state ${gib(m.state)}, ` : ''}activations ${gib(m.arena)}) and this machine has ${gib(available)} available; use a smaller --batch or --seq${recompute}`;
}
