// Runs the CLI in-process with captured output, and writes throwaway spec files.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { mainCaptured, type Captured } from '../../cli/main.js';

export type CliResult = Captured;

export function tcc(...argv: string[]): Promise<CliResult> {
  return mainCaptured(argv);
}

/** A temporary directory with the given files; returns paths relative to the working directory. */
export function specFiles(files: Record<string, string>): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'tcc-spec-'));
  const paths: Record<string, string> = {};
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(join(dir, name), text);
    paths[name] = relative(process.cwd(), join(dir, name));
  }
  return paths;
}

/** Path of a shipped model relative to the repository root, from a spec in a temporary directory. */
export function modelsDir(): string {
  return join(process.cwd(), 'models');
}
