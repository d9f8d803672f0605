// Benchmark plumbing: repeated timing, medians, and the JSON-lines record
// every benchmark prints ({bench, model, backend, batch, seq, metric, value, unit}).

import { readFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';

export interface Record_ {
  readonly bench: string;
  readonly model: string;
  readonly backend: string;
  readonly batch: number;
  readonly seq: number;
  readonly metric: string;
  readonly value: number;
  readonly unit: string;
  readonly repeats?: number;
  readonly peer?: string;
  readonly peer_value?: number;
  readonly ratio?: number;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Times `work` `repeats` times and returns every duration in milliseconds. */
export function timeRepeated(repeats: number, work: () => void): number[] {
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    work();
    times.push(performance.now() - start);
  }
  return times;
}

/** Times async `work` `repeats` times after one warm-up call; every duration in milliseconds. */
export async function timeAsync(repeats: number, work: () => Promise<unknown>): Promise<number[]> {
  await work();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await work();
    times.push(performance.now() - start);
  }
  return times;
}

export const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

export function emit(record: Record_): void {
  process.stdout.write(JSON.stringify(record) + '\n');
}

/** The CPU (model, cores, the vector flags that matter for speed), memory and node. */
export function machine(): string {
  const cpus = os.cpus();
  let flags = '';
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const line = /^flags\s*:\s*(.*)$/m.exec(info)?.[1] ?? '';
    flags = line.split(' ').filter((f) => /^(avx|avx2|fma|avx512f|avx512bw|avx512vl|avx512_vnni|sse4_2|f16c)$/.test(f)).join(' ');
  } catch {
    flags = 'flags unknown';
  }
  return `${cpus[0]?.model ?? 'unknown CPU'} x${cpus.length} (${flags}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`;
}
