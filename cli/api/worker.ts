// The inference server's model, in a thread of its own: the program opened
// on its backend with its weights, running one batch per message. The HTTP
// thread stays free to answer (/health under load) while a forward pass runs.

import { parentPort, Worker, workerData } from 'node:worker_threads';
import type { Program } from '../../runtime/program.js';
import type { Tensor } from '../../runtime/session.js';
import { sessionOn, type BackendFlags } from '../backend.js';
import { setWeights } from '../model-session.js';

export interface WorkerSetup {
  readonly program: Program;
  readonly backend: BackendFlags;
  /** A safetensors file; absent: weights drawn from `seed`. */
  readonly weights?: string;
  readonly seed: number;
}

type Reply = { id: number; outputs: Record<string, Tensor> } | { id: number; error: string };
type Ready = { ready: true; device: string; weights: string } | { ready: false; error: string };

/** The model thread, seen from the server. */
export class ModelWorker {
  private next = 0;
  private readonly pending = new Map<number, { done: (outputs: Record<string, Tensor>) => void; failed: (e: Error) => void }>();

  private constructor(
    private readonly worker: Worker,
    readonly device: string,
    readonly weights: string,
  ) {
    worker.on('message', (reply: Reply) => {
      const call = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if ('error' in reply) call?.failed(new Error(reply.error));
      else call?.done(reply.outputs);
    });
    worker.on('error', (e) => this.failAll(e));
    worker.on('exit', () => this.failAll(new Error('the model thread stopped')));
  }

  /** Starts the thread and waits until its session is open and its weights set. */
  static start(setup: WorkerSetup): Promise<ModelWorker> {
    const worker = new Worker(new URL(import.meta.url), { workerData: setup, stderr: false });
    return new Promise((done, failed) => {
      worker.once('message', (ready: Ready) => (ready.ready ? done(new ModelWorker(worker, ready.device, ready.weights)) : failed(new Error(ready.error))));
      worker.once('error', failed);
    });
  }

  /** One forward pass; `sizes` for a padding-free program (its batch's tokens and sequences). */
  run(inputs: Readonly<Record<string, Int32Array>>, sizes?: readonly number[]): Promise<Record<string, Tensor>> {
    const id = this.next++;
    return new Promise((done, failed) => {
      this.pending.set(id, { done, failed });
      this.worker.postMessage({ id, inputs, sizes });
    });
  }

  close(): Promise<number> {
    return this.worker.terminate();
  }

  private failAll(e: Error): void {
    for (const call of this.pending.values()) call.failed(e);
    this.pending.clear();
  }
}

async function serveModel(setup: WorkerSetup): Promise<void> {
  const port = parentPort!;
  const io = { stdout: process.stdout, stderr: process.stderr };
  try {
    const session = await sessionOn({ program: setup.program }, setup.backend, io);
    const weights = setWeights(session, setup.weights, setup.seed, io);
    port.on('message', ({ id, inputs, sizes }: { id: number; inputs: Record<string, Int32Array>; sizes?: number[] }) => {
      session.run(inputs, { seed: 0, step: 0, ...(sizes ? { sizes } : {}) }).then(
        (outputs) => port.postMessage({ id, outputs } satisfies Reply),
        (e: unknown) => port.postMessage({ id, error: e instanceof Error ? e.message : String(e) } satisfies Reply),
      );
    });
    port.postMessage({ ready: true, device: session.executor.device, weights } satisfies Ready);
  } catch (e) {
    port.postMessage({ ready: false, error: e instanceof Error ? e.message : String(e) } satisfies Ready);
  }
}

if (parentPort && (workerData as WorkerSetup | undefined)?.program) void serveModel(workerData as WorkerSetup);
