// Model and vocabulary arguments that name a HuggingFace Hub model
// (`--model bert-base-uncased`): a path that exists here is taken as it is;
// otherwise a Hub id is found in the local HuggingFace cache or downloaded
// into it (runtime/hf-hub.ts), with a progress bar for large files.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { hubModel, isHubId, MODEL_FILES } from '../runtime/hf-hub.js';
import type { Io } from './errors.js';
import { progress, type Progress } from './progress.js';

/** Files smaller than this download without a bar. */
const BAR_BYTES = 1 << 20;

function hubProgress(io: Pick<Io, 'stderr'>) {
  let bar: Progress | undefined;
  return {
    onStart(file: string, from: number, total: number) {
      bar?.stop();
      bar = undefined;
      if (total - from < BAR_BYTES) return;
      const mb = (n: number) => Math.round(n / 2 ** 20);
      if (from) io.stderr.write(`resuming ${file} at ${mb(from)} of ${mb(total)} MB\n`);
      bar = progress(io, `downloading ${file}`, mb(total), { unit: 'MB', start: mb(from) });
    },
    onProgress(_file: string, done: number) {
      bar?.update(Math.round(done / 2 ** 20));
    },
    stop() {
      bar?.stop();
    },
  };
}

/** A local directory of the Hub model `id` with `files`, a progress bar shown while large ones download. */
async function fromHub(id: string, files: Parameters<typeof hubModel>[1], io: Pick<Io, 'stderr'>): Promise<string> {
  const shown = hubProgress(io);
  try {
    return await hubModel(id, files, shown);
  } finally {
    shown.stop();
  }
}

/**
 * A model argument as a local path: itself where it names a file or
 * directory here, else the cache's snapshot directory of the Hub model it
 * names (config.json, model.safetensors and the tokenizer's files), else
 * itself (for the command's own "no such file").
 */
export async function localModel(arg: string, io: Pick<Io, 'stderr'>): Promise<string> {
  return existsSync(arg) || !isHubId(arg) ? arg : fromHub(arg, MODEL_FILES, io);
}

/** A vocabulary argument: a file here, else the vocab.txt of the Hub model it names. */
export async function localVocab(arg: string, io: Pick<Io, 'stderr'>): Promise<string> {
  return existsSync(arg) || !isHubId(arg) ? arg : join(await fromHub(arg, { required: ['vocab.txt'], optional: ['tokenizer_config.json'] }, io), 'vocab.txt');
}

/** A tokenizer argument: a file here, else the tokenizer.json of the Hub model it names. */
export async function localTokenizerFlag(arg: string | undefined, io: Pick<Io, 'stderr'>): Promise<string | undefined> {
  if (arg === undefined || existsSync(arg) || !isHubId(arg)) return arg;
  return join(await fromHub(arg, { required: ['tokenizer.json'], optional: [] }, io), 'tokenizer.json');
}

/** The same for optional flags. */
export async function localModelFlag(arg: string | undefined, io: Pick<Io, 'stderr'>): Promise<string | undefined> {
  return arg === undefined ? undefined : localModel(arg, io);
}

export async function localVocabFlag(arg: string | undefined, io: Pick<Io, 'stderr'>): Promise<string | undefined> {
  return arg === undefined ? undefined : localVocab(arg, io);
}
