// The C that the native backend puts around every program's kernels, read
// from the real C files beside this one: prelude.c (scalar helpers, the
// random generator, the GEMM micro-kernel, scratch memory) first, napi.c
// (the Node-API entry points) last. The tests check each with the C
// compiler on its own terms. Loaded only where the native backend renders
// (Node), never in a browser.

import { readFileSync } from 'node:fs';

const source = (name: string): string => readFileSync(new URL(`./${name}`, import.meta.url), 'utf8');

export const PRELUDE = source('prelude.c');
export const NAPI_GLUE = source('napi.c');
