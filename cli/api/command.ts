// `tcc serve MODEL --api`: the model (a spec, a HuggingFace directory or Hub
// id, or a program directory) compiled once for --batch texts of up to --seq
// tokens, opened in a thread of its own, and an HTTP server in front of it
// that batches requests dynamically. A model compiled here is padding-free
// where it can be (each batch one stream of its texts' real tokens, at most
// --max-batch-tokens), else padded to --batch × --seq. SIGTERM (or Ctrl-C)
// stops taking requests, answers every one taken, and exits.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isHfDirectory } from '../../runtime/hf-config.js';
import { loadProgram } from '../../runtime/program-dir.js';
import type { Program } from '../../runtime/program.js';
import { positiveInt, seedFlag } from '../args.js';
import { backendFlags } from '../backend.js';
import { batchTensors } from '../embed.js';
import { UsageError, type Io } from '../errors.js';
import { checkTokenizerSize } from '../model-session.js';
import { labelNames, weightsFile } from '../run.js';
import { loadTokenizer } from '../tokenizer.js';
import { startApi } from './server.js';
import { ModelWorker } from './worker.js';
import type { EncodedText } from './batcher.js';
import { isPacked, PACKED_INPUTS, packSequences, unpackOutputs } from '../../runtime/packed.js';

/** The flags only --api takes, as parseArgs options. */
export const API_OPTIONS = {
  'max-batch-tokens': { type: 'string' }, 'max-wait-ms': { type: 'string' }, 'max-queue': { type: 'string' }, 'max-request-bytes': { type: 'string' }, 'max-request-texts': { type: 'string' },
} as const;
export const API_FLAGS = Object.keys(API_OPTIONS) as (keyof typeof API_OPTIONS)[];

/** The usage line of `serve --api`. */
export const apiUsageLine = `       tcc serve MODEL --api [--batch N] [--seq N] [--max-batch-tokens N] [--max-wait-ms N] [--max-queue N]
                 [--max-request-bytes N] [--max-request-texts N] [--weights FILE] [--tokenizer FILE | --vocab FILE]
                 [--backend NAME] [--threads N] [--port N] [--host ADDR]`;

/** What `serve --api` does, for the help. */
export const apiHelp = `With --api, an HTTP inference server on MODEL (a spec, a HuggingFace directory or
Hub id, or a program directory): POST /v1/embeddings (OpenAI's request and answer,
for a model with sentence embeddings), POST /predict ({"inputs": text or
{"text", "text_pair"} or a list of them}: labels, tags, answers or [MASK] tokens,
by the model's head), GET /health, GET /metrics (Prometheus). Texts from all
requests are batched together, in order of arrival: up to --batch texts (default
8) and --max-batch-tokens tokens (default batch × seq) per forward pass, the first
waiting at most --max-wait-ms (default 5) for others. A text longer than --seq
(default 128) is refused (413) unless the request says "truncate": true; more
than --max-queue (default 256) waiting texts, 429 with Retry-After.
  --max-request-bytes  body size (default 1048576); --max-request-texts  texts per request (default 256)`;

interface ApiFlags {
  readonly batch?: string | undefined;
  readonly seq?: string | undefined;
  readonly weights?: string | undefined;
  readonly tokenizer?: string | undefined;
  readonly vocab?: string | undefined;
  readonly lowercase?: string | undefined;
  readonly backend?: string | undefined;
  readonly threads?: string | undefined;
  readonly seed?: string | undefined;
  readonly port?: string | undefined;
  readonly host?: string | undefined;
  readonly 'max-batch-tokens'?: string | undefined;
  readonly 'max-wait-ms'?: string | undefined;
  readonly 'max-queue'?: string | undefined;
  readonly 'max-request-bytes'?: string | undefined;
  readonly 'max-request-texts'?: string | undefined;
}

/**
 * The program: read from a program directory (at its own sizes), else
 * compiled here: padding-free for up to --max-batch-tokens tokens where the
 * model has that form, else at --batch × --seq (`padded` says why not).
 */
async function programOf(model: string, flags: ApiFlags, debug: boolean): Promise<{ program: Program; padded?: string }> {
  if (existsSync(join(model, 'program.json'))) {
    if (flags.batch !== undefined || flags.seq !== undefined) throw new UsageError(`${model} is a compiled program: its batch and seq are its own (not --batch, --seq)`);
    const { program } = loadProgram(model);
    if (program.mode !== 'infer') throw new UsageError(`${model} holds a ${program.mode} program; the server runs inference programs`);
    return { program };
  }
  const [batch, seq] = [positiveInt(flags.batch, '--batch', 8), positiveInt(flags.seq, '--seq', 128)];
  const tokens = positiveInt(flags['max-batch-tokens'], '--max-batch-tokens', batch * seq);
  if (tokens < seq) throw new UsageError(`--max-batch-tokens ${tokens} is less than one text of the most tokens the model takes (--seq ${seq}): give ${seq} or more`);
  const { inferenceProgram } = await import('../../compiler/compile.js');
  return inferenceProgram(model, { batch, seq, tokens }, debug);
}

export async function runServeApi(model: string, flags: ApiFlags, debug: boolean, io: Io): Promise<number> {
  const { program, padded } = await programOf(model, flags, debug);
  const [batch, seq] = [program.dims['batch'] ?? 1, program.dims['seq'] ?? 1];
  const packed = isPacked(program);
  // A padding-free program's batches hold at most its compiled tokens.
  const compiledTokens = packed ? program.symbols!.find((s) => s.name === 'tokens')!.max : batch * seq;
  const maxTokens = positiveInt(flags['max-batch-tokens'], '--max-batch-tokens', compiledTokens);
  if (maxTokens < seq) throw new UsageError(`--max-batch-tokens ${maxTokens} is less than one text of the most tokens the model takes (--seq ${seq}): give ${seq} or more`);
  if (packed && maxTokens > compiledTokens) throw new UsageError(`--max-batch-tokens ${maxTokens} is more than the ${compiledTokens} tokens ${model} was compiled for`);
  const limits = {
    maxTexts: batch,
    maxTokens,
    maxWaitMs: flags['max-wait-ms'] === '0' ? 0 : positiveInt(flags['max-wait-ms'], '--max-wait-ms', 5, 60_000),
    maxQueue: positiveInt(flags['max-queue'], '--max-queue', 256),
  };
  const tokenizer = loadTokenizer({ model, tokenizer: flags.tokenizer, vocab: flags.vocab, lowercase: flags.lowercase });
  checkTokenizerSize(tokenizer, program);
  const weights = weightsFile(flags.weights, model, existsSync(join(model, 'program.json')));
  const names = program.inputs.map((i) => i.name).filter((name) => !(packed && (PACKED_INPUTS as readonly string[]).includes(name)));
  for (const name of names) if (!['input_ids', 'token_type_ids', 'attention_mask'].includes(name)) throw new UsageError(`the model takes an input '${name}'; the server gives input_ids, token_type_ids and attention_mask`);
  // Padding-free: each batch one stream of its texts' tokens; else rows padded to the compiled batch and length.
  const run = packed
    ? async (texts: readonly EncodedText[]) => {
      const stream = packSequences(program, texts.map((t) => ({ ...t })));
      return unpackOutputs(program, stream, await worker.run(stream.inputs, stream.sizes), seq);
    }
    : (texts: readonly EncodedText[]) => worker.run(batchTensors(texts, batch, seq, tokenizer, names));

  const worker = await ModelWorker.start({ program, backend: backendFlags(flags), ...(weights ? { weights } : {}), seed: seedFlag(flags.seed) });
  const label = labelNames(weights && dirname(weights), isHfDirectory(model) ? model : undefined) ?? ((id: number) => `LABEL_${id}`);
  const api = await startApi({
    host: flags.host ?? '127.0.0.1',
    port: flags.port === '0' ? 0 : positiveInt(flags.port, '--port', 8080),
    model: program.model,
    tokenizer,
    seq,
    limits,
    maxRequestBytes: positiveInt(flags['max-request-bytes'], '--max-request-bytes', 1 << 20),
    maxRequestTexts: positiveInt(flags['max-request-texts'], '--max-request-texts', 256),
    outputs: new Map(program.outputs.map((o) => [o.name, o.shape])),
    label,
  }, run);
  const endpoints = program.outputs.some((o) => o.name === 'sentence_embedding') ? 'POST /v1/embeddings, POST /predict' : 'POST /predict';
  const form = packed ? 'padding-free' : `padded to ${batch} × ${seq}${padded ? ` (${padded})` : ''}`;
  io.stderr.write(`serving ${program.model} at ${api.url} (${endpoints}, GET /health, GET /metrics): batches of up to ${batch} texts and ${maxTokens} tokens, ${form}, texts of up to ${seq} tokens, on ${worker.device}, ${worker.weights}; Ctrl-C or SIGTERM stops\n`);
  const signal = await new Promise<NodeJS.Signals>((done) => {
    process.once('SIGINT', () => done('SIGINT'));
    process.once('SIGTERM', () => done('SIGTERM'));
  });
  io.stderr.write(`${signal}: answering the requests taken, taking no more…\n`);
  await api.shutdown();
  await worker.close();
  const { taken, answered } = api.counts;
  io.stderr.write(`stopped: ${answered} of the ${taken} requests taken were answered${answered === taken ? '' : ' (the others failed)'}\n`);
  return 0;
}
