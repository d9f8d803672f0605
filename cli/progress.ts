// Progress of long work on stderr: a bar with its rate and the time left
// where stderr is a terminal (cli-progress), plain lines where it is not
// (a log file, a test), about one per twentieth of the work and the last.

import { SingleBar } from 'cli-progress';
import type { Io } from './errors.js';
import { initParams, type ParamInit } from '../runtime/init.js';

export interface Progress {
  /** `done` of the total so far, and a short note after the bar (the loss). */
  update(done: number, note?: string): void;
  /** A line of its own (a checkpoint saved), above the bar on a terminal. */
  log(line: string): void;
  /** Ends the bar (a terminal keeps its last state on a line of its own). */
  stop(): void;
}

export interface ProgressOptions {
  /** What is counted: "steps", "MB". */
  readonly unit: string;
  /** Counts before this run (a resumed run): the rate and time left count only this run's. */
  readonly start?: number;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const m = Math.floor(seconds / 60);
  return m ? `${m}m${String(Math.round(seconds % 60)).padStart(2, '0')}s` : `${seconds.toFixed(0)}s`;
}

/** A progress report of `total` units of work labelled `label`. */
export function progress(io: Pick<Io, 'stderr'>, label: string, total: number, options: ProgressOptions): Progress {
  const started = performance.now();
  const start = options.start ?? 0;
  const rate = (done: number) => (done - start) / Math.max(1e-3, (performance.now() - started) / 1000);
  const left = (done: number) => (total - done) / rate(done);
  const stream = io.stderr as unknown as NodeJS.WriteStream;
  if (stream.isTTY && typeof stream.cursorTo === 'function') {
    const bar = new SingleBar({
      format: `${label} [{bar}] {value}/{total} ${options.unit} | {speed} ${options.unit}/s | {left} left | {note}`,
      stream,
      barsize: 24,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 20,
    });
    bar.start(total, start, { speed: '–', left: '?', note: '' });
    return {
      update: (done, note = '') => bar.update(done, { speed: rate(done).toFixed(rate(done) < 10 ? 2 : 0), left: duration(left(done)), note }),
      log(line) {
        stream.clearLine(0);
        stream.cursorTo(0);
        stream.write(`${line}\n`);
        bar.render();
      },
      stop: () => bar.stop(),
    };
  }
  const every = Math.max(1, Math.floor(total / 20));
  let last = -1;
  return {
    update(done, note = '') {
      if (done === last || (done !== total && Math.floor(done / every) === Math.floor(last / every))) return;
      last = done;
      const speed = rate(done);
      io.stderr.write(`${label} ${done}/${total} ${options.unit} (${speed.toFixed(speed < 10 ? 2 : 0)} ${options.unit}/s, ${duration(left(done))} left)${note ? ` ${note}` : ''}\n`);
    },
    log: (line) => void io.stderr.write(`${line}\n`),
    stop() {},
  };
}

/** BERT's initialization of many parameters, with a bar where it takes a while (bert-base: ~110 M values, seconds). */
export function initWithProgress(io: Pick<Io, 'stderr'>, params: readonly ParamInit[], seed: number): Record<string, Float32Array> {
  const total = params.reduce((n, p) => n + p.shape.reduce((a, d) => a * d, 1), 0);
  if (total < 4e6) return initParams(params, seed);
  const bar = progress(io, 'initializing weights', Math.round(total / 1e6), { unit: 'M values' });
  const values = initParams(params, seed, (drawn) => bar.update(Math.round(drawn / 1e6)));
  bar.stop();
  return values;
}

/**
 * Progress of work whose only measure is time (one run of the C compiler):
 * with an estimate, a bar of the time elapsed against it and the time left;
 * without one (a first build), the line and the time it took.
 */
export function timedProgress(io: Pick<Io, 'stderr'>, label: string, estimateMs?: number): { stop(): void } {
  const started = performance.now();
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
  const stream = io.stderr as unknown as NodeJS.WriteStream;
  if (estimateMs !== undefined && stream.isTTY && typeof stream.cursorTo === 'function') {
    const bar = new SingleBar({ format: `${label} [{bar}] {elapsed} of about {estimate} | about {left} left`, stream, barsize: 24, hideCursor: true, clearOnComplete: true });
    const total = 1000;
    bar.start(total, 0, { elapsed: '0.0s', estimate: seconds(estimateMs), left: seconds(estimateMs) });
    const tick = setInterval(() => {
      const elapsed = performance.now() - started;
      bar.update(Math.min(total - 1, Math.round((total * elapsed) / estimateMs)), { elapsed: seconds(elapsed), left: seconds(Math.max(0, estimateMs - elapsed)) });
    }, 100);
    return {
      stop() {
        clearInterval(tick);
        bar.stop();
        io.stderr.write(`${label}: built in ${seconds(performance.now() - started)}\n`);
      },
    };
  }
  io.stderr.write(`${label}${estimateMs === undefined ? '' : ` (about ${seconds(estimateMs)}, from this machine's earlier builds)`}…\n`);
  return { stop: () => void io.stderr.write(`  built in ${seconds(performance.now() - started)}\n`) };
}
