// Whether a path is a HuggingFace model directory (config.json inside).

import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** A HuggingFace model directory: config.json (and model.safetensors, vocab.txt) rather than a spec file. */
export function isHfDirectory(path: string): boolean {
  return existsSync(join(path, 'config.json')) && statSync(path).isDirectory();
}
