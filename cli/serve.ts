// `tcc serve DIR`: the web page that runs a compiled model with WebGPU in the
// browser. DIR is an inference program compiled at --batch 1, or padding-free
// (--packed: the text's own tokens, unpadded); the
// weights and vocabulary come from DIR or from flags. Only those files, the
// page and the runtime's JavaScript are served.

import { createServer, type Server, type ServerResponse } from 'node:http';
import { createReadStream, existsSync, mkdtempSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, normalize, resolve as resolvePath, sep } from 'node:path';
import { compileFile, inferenceProgram, isModelDirectory } from '../compiler/compile.js';
import { buildProgram } from '../compiler/program.js';
import { finetuneSpec, modelParamNames } from './finetune.js';
import { loadTokenizer, readJsonTokenizer, tokenizerSource } from './tokenizer.js';
import { WordPieceTokenizer } from '../train/tokenizer.js';
import { maxSeqLength } from './embed.js';
import { checkTokenizerSize } from './model-session.js';
import { weightsFile } from './run.js';
import { loadProgram } from '../runtime/program-dir.js';
import { isPacked } from '../runtime/packed.js';
import { readSafetensors } from '../runtime/safetensors.js';
import type { Program } from '../runtime/program.js';
import { matchWeights } from '../runtime/weights.js';
import { parse, positiveInt } from './args.js';
import { UsageError, type Io } from './errors.js';
import { packageRoot, readInputFile } from './files.js';
import { localModel, localModelFlag, localTokenizerFlag, localVocabFlag } from './hub.js';
import { API_FLAGS, API_OPTIONS, apiHelp, apiUsageLine, runServeApi } from './api/command.js';
import { BACKEND_OPTIONS } from './backend.js';

export const serveUsage = `usage: tcc serve DIR [--weights FILE_OR_HF_DIR] [--tokenizer FILE | --vocab FILE] [--lowercase true|false] [--port N] [--host ADDR]
       tcc serve MODEL --finetune --labels N [--batch N] [--seq N] [--packed] [--weights FILE_OR_HF_DIR] [--tokenizer FILE | --vocab FILE] ...
       tcc serve MODEL --embed [--seq N] [--weights FILE_OR_HF_DIR] [--tokenizer FILE | --vocab FILE] ...
${apiUsageLine}

Serves a web page that runs the compiled model in DIR (tcc compile SPEC --batch 1
--seq N -o DIR, or --packed to run each text unpadded) with WebGPU in the browser:
type a text with [MASK], see its tokens, the top predictions at each [MASK] and the
time taken.
With --finetune, the page fine-tunes MODEL (a spec or a HuggingFace directory) as a
sentence classifier of N labels on WebGPU in the tab: drop a TSV of labelled
sentences (text, label, optional text_pair), watch the loss, download the
fine-tuned model.safetensors. tcc compiles the training step (AdamW included) for
WebGPU at --batch (default 8) × --seq (default 64) first (--packed: padding-free, each
batch one stream of its sentences' tokens, as tcc finetune --packed).
With --embed, the page embeds sentences with MODEL (a sentence-transformers
directory or Hub id, its pooling and normalization compiled into the program, or
a spec with an output sentence_embedding) and shows every pair's cosine
similarity: texts of up to --seq tokens (default the model's max_seq_length, at most
128), padding-free, up to 16 at once (a model without that form: one at a time,
padded).
  --weights   safetensors file or HuggingFace directory (default DIR/model.safetensors;
              with --finetune, MODEL's own if it has them, else BERT's initialization)
  --vocab     vocab.txt (default: beside the weights, or DIR/vocab.txt)
  --tokenizer tokenizer.json (default: the model's own, beside the weights or in DIR; else its vocab.txt)
  --lowercase lower-case the text first (default true)
  --port      port to listen on (default 8080; 0 picks a free one)
  --host      address to listen on (default 127.0.0.1)

${apiHelp}`;

const PACKAGE_ROOT = packageRoot();

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.wgsl': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.safetensors': 'application/octet-stream',
  '.css': 'text/css; charset=utf-8',
};

export interface ServeOptions {
  readonly dir: string;
  /** Absent: the page initializes the weights itself (fine-tuning a model without any). */
  readonly weights?: string;
  readonly vocab: string;
  readonly lowercase: boolean;
  readonly port: number;
  readonly host: string;
  /** The page's mode: run a model, fine-tune a classifier of `labels` labels (`head`: its new parameters), or embed sentences. */
  readonly finetune?: { readonly labels: number; readonly model: string; readonly head: readonly string[] };
  /** (`padded`: why the model runs one text at a time, padded, not padding-free.) */
  readonly embed?: { readonly model: string; readonly padded?: string };
  /** The tokenizer.json the fine-tuning and embedding pages read, where the model has one (`vocab` is then unused). */
  readonly tokenizerJson?: string;
}

/** A file of an installed package (the page's chart library), found as Node finds it. */
const packageFile = (specifier: string) => createRequire(import.meta.url).resolve(specifier);

/**
 * The file a request path maps to, or undefined (404). Paths never leave
 * their roots: not by '..' (plain or percent-encoded, decoded before this),
 * and not through a symlink inside the root that points out of it.
 */
function resolve(options: ServeOptions, path: string): string | undefined {
  const inside = (root: string, rest: string) => {
    const file = normalize(join(root, rest));
    if (!file.startsWith(normalize(root + sep)) || !existsSync(file)) return undefined;
    const real = realpathSync(file);
    return real.startsWith(realpathSync(root) + sep) ? real : undefined;
  };
  if (path === '/' || path === '/index.html') return join(PACKAGE_ROOT, 'web', options.finetune ? 'finetune.html' : options.embed ? 'embed.html' : 'index.html');
  if (path === '/page.css') return join(PACKAGE_ROOT, 'web', 'page.css');
  if (path === '/vendor/uplot.js') return packageFile('uplot/dist/uPlot.esm.js');
  if (path === '/vendor/uplot.css') return packageFile('uplot/dist/uPlot.min.css');
  if (path.startsWith('/dist/') && (path.endsWith('.js') || path.endsWith('.js.map'))) return inside(join(PACKAGE_ROOT, 'dist'), path.slice('/dist/'.length));
  if (path === '/model/model.safetensors') return options.weights;
  if (path === '/model/vocab.txt') return options.tokenizerJson ? undefined : options.vocab;
  if (path === '/model/tokenizer.json') return options.tokenizerJson;
  if (path === '/model/program.json') return join(options.dir, 'program.json');
  return undefined;
}

/**
 * Large files (the weights) sent at once; further requests for one are
 * answered 503 (a client that does not read holds a slot only until its
 * timeout). The page's many small modules are not counted.
 */
export const MAX_DOWNLOADS = 4;
const LARGE_FILE = 1 << 20;
/** A response that makes no progress for this long is dropped. */
const STALL_MS = 30_000;

const IP_LITERAL = /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:.]+\])$/i;

/**
 * Whether a request's Host names this server: the address it listens on or
 * localhost (with its port). Any other name is refused, so that a page
 * elsewhere cannot reach the weights by pointing a name of its own at
 * 127.0.0.1 (DNS rebinding). Listening on every interface, IP literals are
 * accepted too (the machine's addresses), names still are not.
 */
export function hostAllowed(header: string | undefined, listen: string, port: number): boolean {
  if (!header) return false;
  const match = /^(\[[^\]]*\]|[^:]+)(?::(\d+))?$/.exec(header.trim().toLowerCase());
  if (!match || Number(match[2] ?? 80) !== port) return false;
  const host = match[1]!;
  const wildcard = listen === '0.0.0.0' || listen === '::' || listen === '[::]';
  const bracketed = listen.includes(':') && !listen.startsWith('[') ? `[${listen}]` : listen;
  return host === 'localhost' || host === bracketed.toLowerCase() || (wildcard && IP_LITERAL.test(host));
}

/** Starts the server; resolves once it listens, with its address. */
export function startServer(options: ServeOptions): Promise<{ server: Server; url: string }> {
  const settings = JSON.stringify({
    lowercase: options.lowercase,
    tokenizer: options.tokenizerJson ? 'tokenizer.json' : 'vocab.txt',
    ...(options.finetune ? { finetune: { labels: options.finetune.labels, model: basename(options.finetune.model), head: options.finetune.head, ...FINETUNE_DEFAULTS } } : {}),
    ...(options.embed ? { embed: { model: basename(options.embed.model) } } : {}),
  });
  let port = options.port;
  let downloads = 0;
  const text = (response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) => response.writeHead(status, { 'content-type': TYPES['.txt']!, ...headers }).end(body);
  const server = createServer({ maxHeaderSize: 8192 }, (request, response) => {
    // Cross-origin isolation: the page may share memory with workers (the WebAssembly backend's threads); everything it loads is this server's.
    response.setHeader('cross-origin-opener-policy', 'same-origin');
    response.setHeader('cross-origin-embedder-policy', 'require-corp');
    // The page only reads: no method takes a body, so none is accepted (or buffered).
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      text(response, 405, 'only GET and HEAD\n', { allow: 'GET, HEAD', connection: 'close' });
      request.destroy();
      return;
    }
    if (!hostAllowed(request.headers.host, options.host, port)) {
      text(response, 403, 'this server answers only to its own address and localhost\n');
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    } catch {
      text(response, 400, 'bad request path\n');
      return;
    }
    if (path === '/model/serve.json') {
      response.writeHead(200, { 'content-type': TYPES['.json']! }).end(settings);
      return;
    }
    const file = resolve(options, path);
    const stat = file && existsSync(file) ? statSync(file) : undefined;
    if (!file || !stat?.isFile()) {
      text(response, 404, `not found: ${path}\n`);
      return;
    }
    const headers = { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': String(stat.size), 'cache-control': 'no-store' };
    if (request.method === 'HEAD') {
      response.writeHead(200, headers).end();
      return;
    }
    const large = stat.size >= LARGE_FILE;
    if (large && downloads >= MAX_DOWNLOADS) {
      text(response, 503, 'busy: try again\n', { 'retry-after': '1' });
      return;
    }
    // Streamed: memory per download is a stream's buffer, whatever the file's size.
    if (large) downloads++;
    let done = !large;
    const finish = () => {
      if (!done) downloads--;
      done = true;
    };
    const stream = createReadStream(file);
    response.setTimeout(STALL_MS, () => response.destroy());
    response.once('close', () => {
      finish();
      stream.destroy();
    });
    stream.once('error', () => response.destroy());
    response.writeHead(200, headers);
    stream.pipe(response);
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  return new Promise((done, failed) => {
    server.once('error', (e: NodeJS.ErrnoException) => failed(new UsageError(`cannot listen on ${options.host}:${options.port}: ${e.code ?? e.message}`)));
    server.listen(options.port, options.host, () => {
      const address = server.address();
      port = typeof address === 'object' && address ? address.port : options.port;
      done({ server, url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}/` });
    });
  });
}

/** Checks the directory, weights and vocabulary before serving: mistakes show here, not in the browser. */
export function serveOptions(dir: string, flags: { weights?: string; vocab?: string; tokenizer?: string; lowercase?: string; port?: string; host?: string }): ServeOptions {
  let program;
  try {
    program = loadProgram(dir).program;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (program.mode !== 'infer') throw new UsageError(`${dir} holds a ${program.mode} program; the page runs inference programs`);
  if (!isPacked(program) && program.dims['batch'] !== 1) throw new UsageError(`${dir} was compiled for batch ${program.dims['batch']}; the page needs --batch 1 (or --packed: any text up to its length, unpadded)`);
  if (!program.outputs.some((o) => o.name === 'prediction_logits')) throw new UsageError(`${dir}: the model has no masked-LM head (prediction_logits) to predict [MASK] with`);
  const weightsFlag = flags.weights ?? join(dir, 'model.safetensors');
  const weights = isModelDirectory(weightsFlag) ? join(weightsFlag, 'model.safetensors') : weightsFlag;
  const matched = matchWeights(program.params, readSafetensors(readInputFile(weights), weights).tensors, weights);
  if (matched.missing.length) throw new UsageError(`${weights} lacks ${matched.missing.length} of the model's parameters, e.g. '${matched.missing[0]}'`);
  const port = flags.port === '0' ? 0 : positiveInt(flags.port, '--port', 8080);
  // A tokenizer.json beside the weights or in the directory (or --tokenizer) before a vocab.txt.
  const json = flags.tokenizer ?? (flags.vocab === undefined ? [join(dirname(weights), 'tokenizer.json'), join(dir, 'tokenizer.json')].find((f) => existsSync(f)) : undefined);
  if (json !== undefined) {
    if (flags.lowercase !== undefined) throw new UsageError(`--lowercase applies to a vocab.txt; ${json} sets its own normalization`);
    checkTokenizerSize(readJsonTokenizer(json), program);
    return { dir, weights, vocab: join(dir, 'vocab.txt'), tokenizerJson: json, lowercase: false, port, host: flags.host ?? '127.0.0.1' };
  }
  const vocab = flags.vocab ?? [join(dirname(weights), 'vocab.txt'), join(dir, 'vocab.txt')].find((f) => existsSync(f));
  if (!vocab || !existsSync(vocab)) throw new UsageError(`no tokenizer.json or vocab.txt beside ${weights} or in ${dir}: pass --tokenizer FILE or --vocab FILE`);
  if (flags.lowercase !== undefined && flags.lowercase !== 'true' && flags.lowercase !== 'false') throw new UsageError(`--lowercase must be true or false, got '${flags.lowercase}'`);
  return { dir, weights, vocab, lowercase: flags.lowercase !== 'false', port, host: flags.host ?? '127.0.0.1' };
}

/** The fine-tuning page's defaults, as tcc finetune's. */
export const FINETUNE_DEFAULTS = { epochs: 3, lr: 2e-5, warmup: 0.1, weightDecay: 0.01, seed: 0 } as const;

/**
 * The fine-tuning page's directory: MODEL with a classifier head of `labels`
 * labels (the spec tcc finetune builds), its training step compiled for
 * WebGPU into a fresh directory (`packed`: padding-free, as tcc finetune
 * --packed's).
 */
export function finetuneOptions(model: string, flags: { labels?: string; batch?: string; seq?: string; packed?: boolean; weights?: string; vocab?: string; tokenizer?: string; lowercase?: string; port?: string; host?: string }, debug = false): ServeOptions {
  if (flags.labels === undefined) throw new UsageError('serve --finetune needs --labels N, the number of labels of the classifier');
  const labels = positiveInt(flags.labels, '--labels', 2);
  if (labels < 2) throw new UsageError('--labels must be 2 or more');
  const [batch, seq] = [positiveInt(flags.batch, '--batch', 8), positiveInt(flags.seq, '--seq', 64)];
  const { file, text } = finetuneSpec(resolvePath(model), 'classification', labels);
  const compiled = compileFile(file, { text, batch, seq, mode: 'train', verify: debug, ...(flags.packed ? { packed: {} } : {}) });
  const { program } = buildProgram(compiled.graph, { passes: compiled.passes, ...(compiled.runtime ? { runtime: compiled.runtime } : {}) });
  const dir = mkdtempSync(join(tmpdir(), 'tcc-finetune-'));
  writeFileSync(join(dir, 'program.json'), JSON.stringify(program));
  const weightsFlag = flags.weights ?? (isModelDirectory(model) && existsSync(join(model, 'model.safetensors')) ? model : undefined);
  const weights = weightsFlag && isModelDirectory(weightsFlag) ? join(weightsFlag, 'model.safetensors') : weightsFlag;
  // The task's head (and a pooler the model had none of) starts from the initialization; the rest must be in the weights.
  const own = modelParamNames(model);
  const head = program.params.map((p) => p.name).filter((n) => !own.has(n));
  if (weights) {
    const matched = matchWeights(program.params, readSafetensors(readInputFile(weights), weights).tensors, weights);
    const body = matched.missing.filter((n) => own.has(n));
    if (body.length) throw new UsageError(`${weights} lacks ${body.length} of the model's parameters, e.g. '${body[0]}'`);
  }
  const tokenizer = servedTokenizer(weights ? dirname(weights) : model, flags, program, dir);
  const port = flags.port === '0' ? 0 : positiveInt(flags.port, '--port', 8080);
  return { dir, ...(weights ? { weights } : {}), ...tokenizer, port, host: flags.host ?? '127.0.0.1', finetune: { labels, model, head } };
}

/**
 * The pages' tokenizer: the model's tokenizer.json (or --tokenizer), served
 * as it is, else its WordPiece vocabulary, written into the page's directory.
 */
function servedTokenizer(model: string, flags: { vocab?: string; tokenizer?: string; lowercase?: string }, program: Program, dir: string): Pick<ServeOptions, 'vocab' | 'lowercase' | 'tokenizerJson'> {
  const tokenizer = loadTokenizer({ model, tokenizer: flags.tokenizer, vocab: flags.vocab, lowercase: flags.lowercase });
  checkTokenizerSize(tokenizer, program);
  const vocab = join(dir, 'vocab.txt');
  if (!(tokenizer instanceof WordPieceTokenizer)) return { vocab, lowercase: false, tokenizerJson: tokenizerSource(tokenizer)! };
  writeFileSync(vocab, tokenizer.vocab.join('\n') + '\n');
  return { vocab, lowercase: tokenizer.options.lowercase };
}

/** The embedding page's longest text by default: a WebGPU forward pass per text at this length stays interactive. */
const EMBED_SEQ = 128;

/** Texts the embedding page runs at once (padding-free: one stream of up to four of the longest texts' tokens). */
const EMBED_TEXTS = 16;

/**
 * The embedding page's directory: MODEL's forward pass (its pooling and
 * normalization inside, output sentence_embedding) compiled padding-free
 * for up to EMBED_TEXTS texts at once where the model has that form, else
 * at batch 1, into a fresh directory; its weights and tokenizer checked
 * against it here.
 */
export async function embedOptions(model: string, flags: { seq?: string; weights?: string; vocab?: string; tokenizer?: string; lowercase?: string; port?: string; host?: string }, debug = false): Promise<ServeOptions> {
  const seq = flags.seq === undefined ? Math.min(EMBED_SEQ, maxSeqLength(model) ?? EMBED_SEQ) : positiveInt(flags.seq, '--seq', 2);
  const { program, padded } = await inferenceProgram(model, { batch: EMBED_TEXTS, seq, tokens: 4 * seq, paddedBatch: 1 }, debug);
  if (!program.outputs.some((o) => o.name === 'sentence_embedding')) throw new UsageError(`${model} has no output sentence_embedding: a sentence-transformers directory (modules.json with a Pooling module) has one`);
  const weights = weightsFile(flags.weights, model, false);
  if (!weights) throw new UsageError(`${model} has no model.safetensors: pass --weights FILE_OR_HF_DIR`);
  const matched = matchWeights(program.params, readSafetensors(readInputFile(weights), weights).tensors, weights);
  if (matched.missing.length) throw new UsageError(`${weights} lacks ${matched.missing.length} of the model's parameters, e.g. '${matched.missing[0]}'`);
  const dir = mkdtempSync(join(tmpdir(), 'tcc-embed-'));
  writeFileSync(join(dir, 'program.json'), JSON.stringify(program));
  const port = flags.port === '0' ? 0 : positiveInt(flags.port, '--port', 8080);
  return { dir, weights, ...servedTokenizer(model, flags, program, dir), port, host: flags.host ?? '127.0.0.1', embed: { model, ...(padded ? { padded } : {}) } };
}

/** How the embedding page runs its texts, for the start-up line. */
function embedForm(program: Program, padded: string | undefined): string {
  const seq = program.dims['seq'];
  if (!isPacked(program)) return `one text at a time, padded to ${seq} tokens${padded ? ` (${padded})` : ''}`;
  return `padding-free, up to ${program.dims['batch']} texts of up to ${seq} tokens at once`;
}

export async function runServe(argv: string[], debug: boolean, io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    weights: { type: 'string' }, vocab: { type: 'string' }, lowercase: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' },
    finetune: { type: 'boolean' }, labels: { type: 'string' }, batch: { type: 'string' }, seq: { type: 'string' }, packed: { type: 'boolean' }, embed: { type: 'boolean' }, tokenizer: { type: 'string' },
    api: { type: 'boolean' }, ...API_OPTIONS, ...BACKEND_OPTIONS, seed: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout.write(serveUsage + '\n');
    return 0;
  }
  if ([values.finetune, values.embed, values.api].filter(Boolean).length > 1) throw new UsageError('give one of --finetune, --embed and --api');
  if (positionals.length !== 1) throw new UsageError(`serve ${values.api ? '--api ' : ''}takes one ${values.finetune || values.embed || values.api ? 'model' : 'program directory'}, got ${positionals.length}\n${serveUsage}`);
  if (values.labels !== undefined && !values.finetune) throw new UsageError('--labels goes with --finetune');
  if (values.packed && !values.finetune) throw new UsageError(`--packed goes with --finetune (${values.api || values.embed ? `--${values.api ? 'api' : 'embed'} compiles padding-free where the model can` : 'a program directory compiled --packed runs as it is'})`);
  if (!values.api) {
    for (const flag of [...API_FLAGS, 'backend', 'threads', 'seed'] as const) if (values[flag] !== undefined) throw new UsageError(`--${flag} goes with --api`);
    if (values.batch !== undefined && !values.finetune) throw new UsageError('--batch goes with --finetune');
    if (values.seq !== undefined && !values.finetune && !values.embed) throw new UsageError('--seq goes with --finetune or --embed');
  }
  const flags = { ...values, weights: await localModelFlag(values.weights, io), vocab: await localVocabFlag(values.vocab, io), tokenizer: await localTokenizerFlag(values.tokenizer, io) };
  if (values.api) return runServeApi(await localModel(positionals[0]!, io), flags, debug, io);
  const options = values.finetune ? finetuneOptions(await localModel(positionals[0]!, io), flags, debug)
    : values.embed ? await embedOptions(await localModel(positionals[0]!, io), flags, debug)
    : serveOptions(positionals[0]!, flags);
  const { server, url } = await startServer(options);
  const what = options.finetune ? `fine-tuning of ${options.finetune.model} as a classifier of ${options.finetune.labels} labels`
    : options.embed ? `sentence embeddings of ${options.embed.model} (${embedForm(loadProgram(options.dir).program, options.embed.padded)})` : options.dir;
  io.stderr.write(`serving ${what} (weights ${options.weights ?? "BERT's initialization"}) at ${url}; open it in a browser with WebGPU, Ctrl-C stops\n`);
  await new Promise<void>((done) => {
    process.once('SIGINT', () => server.close(() => done()));
    process.once('SIGTERM', () => server.close(() => done()));
  });
  return 0;
}
