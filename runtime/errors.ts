/** A problem with what the user gave the runtime (inputs, checkpoint files): reported in one line, exit code 2. */
export class InputError extends Error {
  override name = 'InputError';
}
