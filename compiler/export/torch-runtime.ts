// The Python that every exported model.py starts with (after its own
// header) and the train.py beside it, read from the real Python files in
// python/ (the tests compile both, and run them with real PyTorch).

import { readFileSync } from 'node:fs';

const source = (name: string): string => readFileSync(new URL(`./python/${name}`, import.meta.url), 'utf8');

/** Helpers of model.py: config, safetensors, the ops torch lacks as one call, and the Block base class. */
export const MODEL_RUNTIME = source('model_runtime.py');

/** train.py: the spec's losses with AdamW and linear warmup and decay, under torchrun or alone. */
export const TRAIN_SCRIPT = source('train.py');
