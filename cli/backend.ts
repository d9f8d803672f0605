// The --backend flag: a graph becomes a program for the backend's target and
// a session on it.

import type { Graph } from '../compiler/ir/graph.js';
import { buildProgram } from '../compiler/program.js';
import type { Backend } from '../runtime/executor.js';
import { openSession, TARGET_OF_BACKEND, type Session } from '../runtime/session.js';
import { oneOf } from './args.js';

export const BACKENDS: readonly Backend[] = ['cpu', 'webgpu'];

export function backendFlag(value: string | undefined): Backend {
  return oneOf(value, '--backend', BACKENDS, 'cpu');
}

/** Compiles the graph for the backend and opens a session on it (proving its memory plan under --debug). */
export function sessionFor(graph: Graph, backend: Backend, debug = false): Promise<Session> {
  return openSession(buildProgram(graph, TARGET_OF_BACKEND[backend], { check: debug }));
}
