// A WGSL module that does not compile is a compiler bug: the message names
// the kernel and quotes the line the WGSL compiler pointed at.

export class WgslCompileError extends Error {
  override name = 'WgslCompileError';
  constructor(
    readonly kernel: string,
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

/** The first error of a module's compilation, as one message with the kernel and line; undefined if none. */
export function compilationError(kernel: string, code: string, info: GPUCompilationInfo): WgslCompileError | undefined {
  const error = info.messages.find((m) => m.type === 'error');
  if (!error) return undefined;
  const text = code.split('\n')[error.lineNum - 1]?.trim() ?? '';
  const message = `WGSL of kernel ${kernel} does not compile: line ${error.lineNum}:${error.linePos}: ${error.message.split('\n')[0]}${text ? ` (in '${text}')` : ''} (a tcc bug: please report it)`;
  return new WgslCompileError(kernel, error.lineNum, message);
}
