// Loading the DSL's parser on demand. chevrotain's module tree takes about
// 200 ms to import, its single-file bundle about 10 ms, and building the
// parser (grammar analysis) some 40 ms more: YAML-only work pays none of it.
// `loadDsl()` imports the library (async, once); the parser itself is built
// on the first .tcc file.

import type * as Chevrotain from 'chevrotain';
import { createGrammar, type DslGrammar } from './grammar.js';

let library: typeof Chevrotain | undefined;
let built: DslGrammar | undefined;

/** Imports chevrotain, preferring its bundle; call before compiling .tcc files. */
export async function loadDsl(): Promise<void> {
  if (library) return;
  try {
    const api = import.meta.resolve('chevrotain');
    library = (await import(new URL('../chevrotain.min.mjs', api).href)) as typeof Chevrotain;
  } catch {
    library = await import('chevrotain');
  }
}

/** The lexer and parser, built on first use. */
export function dslGrammar(): DslGrammar {
  if (!library) throw new Error('the DSL parser is not loaded: await loadDsl() before compiling .tcc files');
  built ??= createGrammar(library);
  return built;
}
