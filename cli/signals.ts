// Ctrl-C (SIGINT) and SIGTERM during long work: the first asks the work to
// stop at its next safe point (a training run finishes its step and writes
// a checkpoint), a second stops the process at once. Exit codes are the
// shell's: 128 + the signal's number (130, 143).

import type { Io } from './errors.js';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** The exit code of a process stopped by `signal`. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return signal === 'SIGTERM' ? 143 : 130;
}

export interface StopRequests {
  /** The signal that asked to stop, if one came. */
  requested(): NodeJS.Signals | undefined;
  /** Stops listening (the signals' default behaviour returns). */
  dispose(): void;
}

/** Listens for SIGINT and SIGTERM until disposed; `what` says what will happen, in the line printed on the first. */
export function listenForStop(io: Pick<Io, 'stderr'>, what: string): StopRequests {
  let signal: NodeJS.Signals | undefined;
  const onSignal = (s: NodeJS.Signals) => {
    if (signal) {
      io.stderr.write(`\n${s} again: stopping now\n`);
      process.exit(signalExitCode(s));
    }
    signal = s;
    io.stderr.write(`\n${s}: ${what} (${s === 'SIGINT' ? 'Ctrl-C' : 'the signal'} again stops at once)\n`);
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  return {
    requested: () => signal,
    dispose: () => {
      for (const s of SIGNALS) process.off(s, onSignal);
    },
  };
}
