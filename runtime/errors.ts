/** A problem with what the user gave the runtime (inputs, checkpoint files): reported in one line, exit code 2. */
export class InputError extends Error {
  override name = 'InputError';
}

/** A run that cannot go on (a diverging loss, a lost device): one line, exit code 1, nothing lost. */
export class RunFailure extends Error {
  override name = 'RunFailure';
}
