// `tcc serve MODEL --api`: an HTTP inference server. Requests are read whole
// (up to a byte limit), checked field by field, tokenized, and their texts
// queued for the dynamic batcher; each answer is JSON, each refusal a 4xx
// with a JSON error naming what is wrong (OpenAI's error shape). Endpoints:
// POST /v1/embeddings (OpenAI's request and response), POST /predict (what
// the model's head says), GET /health, GET /metrics (Prometheus).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Tensor } from '../../runtime/session.js';
import { bestSpan, classify, joinPieces, maskPredictions } from '../../train/predictions.js';
import { vocabTokens, type Encoding, type TextTokenizer } from '../../train/tokenizer.js';
import { Batcher, QueueFull, type BatchLimits, type EncodedText, type RowOutputs } from './batcher.js';
import { ServerMetrics } from './metrics.js';
import { hostAllowed } from '../serve.js';

export interface ApiOptions {
  readonly host: string;
  readonly port: number;
  /** The model's name in answers. */
  readonly model: string;
  readonly tokenizer: TextTokenizer;
  /** Tokens per text at most (the compiled sequence length). */
  readonly seq: number;
  readonly limits: BatchLimits;
  /** Bytes of a request body at most. */
  readonly maxRequestBytes: number;
  /** Texts of one request at most. */
  readonly maxRequestTexts: number;
  /** The program's outputs by name and shape (batch first): what the endpoints can say. */
  readonly outputs: ReadonlyMap<string, readonly number[]>;
  /** A label's name from config.json's id2label. */
  readonly label: (id: number) => string;
}

/** A refusal: the HTTP status and the JSON error's message and type. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = 'invalid_request_error',
    readonly param?: string,
  ) {
    super(message);
  }
}

const json = (response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers }).end(text);
};

/** The body of a request, whole, or a Refusal (413) as soon as it passes the limit. */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((done, failed) => {
    const declared = Number(request.headers['content-length']);
    if (declared > limit) return failed(new Refusal(413, `the request body has ${declared} bytes; the server takes at most ${limit} (--max-request-bytes)`, 'request_too_large'));
    const chunks: Buffer[] = [];
    let bytes = 0;
    request.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > limit) {
        request.removeAllListeners('data');
        failed(new Refusal(413, `the request body passes ${limit} bytes, the most the server takes (--max-request-bytes)`, 'request_too_large'));
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => done(Buffer.concat(chunks)));
    request.on('error', failed);
  });
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new Refusal(400, `the body is not valid JSON (${(e as Error).message})`);
  }
}

/** A JSON object's fields, each known: unknown ones are refused, so a misspelled option is not silently ignored. */
function fields(body: unknown, known: readonly string[]): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Refusal(400, 'the body must be a JSON object');
  for (const key of Object.keys(body)) if (!known.includes(key)) throw new Refusal(400, `unknown field '${key}' (fields: ${known.join(', ')})`, 'invalid_request_error', key);
  return body as Record<string, unknown>;
}

interface TextInput {
  readonly text: string;
  readonly pair?: string;
}

/** A text or a list of texts (each a string, or {text, text_pair} where pairs are allowed). */
function textInputs(value: unknown, param: string, pairs: boolean, max: number): TextInput[] {
  const one = (v: unknown, at: string): TextInput => {
    if (typeof v === 'string') return { text: v };
    if (pairs && v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const f = fields(v, ['text', 'text_pair']);
      if (typeof f['text'] !== 'string') throw new Refusal(400, `${at}.text must be a string`, 'invalid_request_error', param);
      if (f['text_pair'] !== undefined && typeof f['text_pair'] !== 'string') throw new Refusal(400, `${at}.text_pair must be a string`, 'invalid_request_error', param);
      return { text: f['text'], ...(f['text_pair'] === undefined ? {} : { pair: f['text_pair'] as string }) };
    }
    throw new Refusal(400, `${at} must be a string${pairs ? ' or {"text", "text_pair"}' : ''}`, 'invalid_request_error', param);
  };
  if (value === undefined) throw new Refusal(400, `the field '${param}' is missing`, 'invalid_request_error', param);
  const list = Array.isArray(value) ? value.map((v, i) => one(v, `${param}[${i}]`)) : [one(value, param)];
  if (!list.length) throw new Refusal(400, `'${param}' is an empty list: give one text or more`, 'invalid_request_error', param);
  if (list.length > max) throw new Refusal(413, `'${param}' has ${list.length} texts; the server takes at most ${max} per request (--max-request-texts)`, 'request_too_large', param);
  return list;
}

export interface ApiServer {
  readonly server: Server;
  readonly url: string;
  readonly metrics: ServerMetrics;
  /** POST requests taken (read and being answered) and answered so far. */
  readonly counts: { readonly taken: number; readonly answered: number };
  /** Stops taking requests, answers every one it took, then resolves. */
  shutdown(): Promise<void>;
}

/** Runs one batch of texts through the model: their rows padded to the compiled batch and length. */
export type RunTexts = (texts: readonly EncodedText[]) => Promise<Record<string, Tensor>>;

export function startApi(options: ApiOptions, run: RunTexts): Promise<ApiServer> {
  const metrics = new ServerMetrics(options.limits.maxTexts, options.limits.maxTokens, (): number => batcher.queued);
  const batcher: Batcher = new Batcher(options.limits, run, metrics);
  const { tokenizer, seq } = options;
  let closing = false;
  const inFlight = new Set<Promise<unknown>>();
  const counts = { taken: 0, answered: 0 };

  /** Each input encoded, its length checked against the compiled maximum (or cut to it, with truncate). */
  const encode = (inputs: readonly TextInput[], param: string, truncate: boolean): Encoding[] => inputs.map((input, i) => {
    const encoding = tokenizer.encode(input.text, { ...(input.pair === undefined ? {} : { pair: input.pair }), ...(truncate ? { maxLength: seq } : {}) });
    if (encoding.input_ids.length > seq) {
      throw new Refusal(413, `${inputs.length > 1 ? `${param}[${i}]` : param} has ${encoding.input_ids.length} tokens; the model takes at most ${seq} (compiled --seq; "truncate": true cuts it)`, 'request_too_large', param);
    }
    return encoding;
  });

  const submit = async (encodings: readonly Encoding[]): Promise<RowOutputs[]> => {
    try {
      return await batcher.submit(encodings);
    } catch (e) {
      if (e instanceof QueueFull) throw new Refusal(429, `the server is busy: ${e.message}; try again`, 'rate_limit_error');
      throw e;
    }
  };

  const embeddings = async (body: unknown) => {
    if (!options.outputs.has('sentence_embedding')) throw new Refusal(404, `${options.model} gives no sentence embeddings (no output sentence_embedding); POST /predict says what its head does`, 'not_found_error');
    const f = fields(body, ['input', 'model', 'encoding_format', 'dimensions', 'user', 'truncate']);
    const format = f['encoding_format'] ?? 'float';
    if (format !== 'float' && format !== 'base64') throw new Refusal(400, `encoding_format must be "float" or "base64", got ${JSON.stringify(format)}`, 'invalid_request_error', 'encoding_format');
    if (f['model'] !== undefined && typeof f['model'] !== 'string') throw new Refusal(400, 'model must be a string', 'invalid_request_error', 'model');
    const dim = options.outputs.get('sentence_embedding')!.at(-1)!;
    if (f['dimensions'] !== undefined && f['dimensions'] !== dim) throw new Refusal(400, `this model's embeddings have ${dim} dimensions; dimensions ${JSON.stringify(f['dimensions'])} is not offered`, 'invalid_request_error', 'dimensions');
    const truncate = flag(f['truncate'], 'truncate');
    const encodings = encode(textInputs(f['input'], 'input', false, options.maxRequestTexts), 'input', truncate);
    const rows = await submit(encodings);
    const tokens = encodings.reduce((sum, e) => sum + e.input_ids.length, 0);
    return {
      object: 'list',
      data: rows.map((r, index) => {
        const vector = r['sentence_embedding']!.data as Float32Array;
        return { object: 'embedding', index, embedding: format === 'base64' ? Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64') : Array.from(vector) };
      }),
      model: typeof f['model'] === 'string' ? f['model'] : options.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    };
  };

  const predict = async (body: unknown) => {
    const f = fields(body, ['inputs', 'truncate']);
    const says = ['logits', 'start_logits', 'prediction_logits'].some((name) => options.outputs.has(name));
    if (!says) throw new Refusal(404, `${options.model} has no head to predict with (logits, start_logits or prediction_logits); ${options.outputs.has('sentence_embedding') ? 'POST /v1/embeddings gives its embeddings' : 'it only gives hidden states'}`, 'not_found_error');
    const inputs = textInputs(f['inputs'], 'inputs', true, options.maxRequestTexts);
    const encodings = encode(inputs, 'inputs', flag(f['truncate'], 'truncate'));
    const rows = await submit(encodings);
    return { model: options.model, predictions: rows.map((r, i) => prediction(r, encodings[i]!, inputs[i]!)) };
  };

  /** What a row's outputs say, by the head the model has. */
  const prediction = (r: RowOutputs, encoding: Encoding, input: TextInput): unknown => {
    const tokens = vocabTokens(tokenizer, encoding);
    const logits = r['logits'];
    if (logits && logits.shape.length === 1) {
      const scores = classify(logits.data, logits.shape[0]!, options.label, logits.shape[0]!)[0]!;
      return { label: scores[0]!.label, score: scores[0]!.probability, scores: scores.map((s) => ({ label: s.label, score: s.probability })) };
    }
    if (logits && logits.shape.length === 2) {
      const classes = logits.shape[1]!;
      const tags = classify(logits.data.subarray(0, tokens.length * classes), classes, options.label, 1);
      const special = new Set(Object.values(tokenizer.specials));
      return {
        tokens: tokens.flatMap((token, i) => (special.has(token) ? [] : [{ token, label: tags[i]![0]!.label, score: tags[i]![0]!.probability, ...(encoding.offsets ? { start: encoding.offsets[i]![0], end: encoding.offsets[i]![1] } : {}) }])),
      };
    }
    const [start, end] = [r['start_logits'], r['end_logits']];
    if (start && end) {
      const span = bestSpan(start.data.subarray(0, tokens.length), end.data.subarray(0, tokens.length), tokens, encoding.token_type_ids);
      if (!span) return { answer: null };
      const chars = encoding.offsets && input.pair !== undefined ? [encoding.offsets[span.start]![0], encoding.offsets[span.end]![1]] as const : undefined;
      return { answer: chars ? input.pair!.slice(chars[0], chars[1]) : joinPieces(tokens.slice(span.start, span.end + 1)), score: span.score, tokens: [span.start, span.end], ...(chars ? { start: chars[0], end: chars[1] } : {}) };
    }
    const mlm = r['prediction_logits']!;
    const mask = tokenizer.specials.mask ?? '[MASK]';
    return { masks: maskPredictions(tokenizer.vocab, tokens, mlm.data, mlm.shape.at(-1)!, 5, mask).map((p) => ({ position: p.position, predictions: p.top.map((t) => ({ token: t.token, score: t.probability })) })) };
  };

  const routes: Record<string, (body: unknown) => Promise<unknown>> = { '/v1/embeddings': embeddings, '/predict': predict };

  let port = options.port;
  const server = createServer({ maxHeaderSize: 8192 }, (request, response) => {
    const path = (request.url ?? '/').split('?')[0]!;
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      metrics.requests.inc({ endpoint: path in routes || path === '/health' || path === '/metrics' ? path : 'other', code: String(status) });
      json(response, status, body, headers);
    };
    const refuse = (e: Refusal, headers: Record<string, string> = {}) => answer(e.status, { error: { message: e.message, type: e.type, param: e.param ?? null, code: e.status } }, headers);
    // A name pointed at this address by someone else's page (DNS rebinding) is not this server's.
    if (!hostAllowed(request.headers.host, options.host, port)) return refuse(new Refusal(403, 'this server answers only to its own address and localhost', 'permission_error'));
    if (request.method === 'GET' && path === '/health') return answer(closing ? 503 : 200, { status: closing ? 'shutting down' : 'ok', queued: batcher.queued });
    if (request.method === 'GET' && path === '/metrics') {
      metrics.requests.inc({ endpoint: path, code: '200' });
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics.render());
      return;
    }
    const route = routes[path];
    if (!route) return refuse(new Refusal(404, `no endpoint ${request.method} ${path.slice(0, 100)} (POST /v1/embeddings, POST /predict, GET /health, GET /metrics)`, 'not_found_error'));
    if (request.method !== 'POST') return refuse(new Refusal(405, `${path} takes POST`), { allow: 'POST' });
    if (closing) return refuse(new Refusal(503, 'the server is shutting down', 'server_error'), { connection: 'close' });
    const start = performance.now();
    counts.taken++;
    const work = readBody(request, options.maxRequestBytes)
      .then((body) => route(parseJson(body)))
      .then((result) => {
        metrics.requestSeconds.observe((performance.now() - start) / 1e3);
        answer(200, result);
      })
      .catch((e: unknown) => {
        if (e instanceof Refusal) {
          const retry: Record<string, string> = e.status === 429 ? { 'retry-after': '1' } : {};
          // A body not read to its end would be read as the next request: the connection closes after a 413.
          refuse(e, e.status === 413 ? { ...retry, connection: 'close' } : retry);
          if (e.status === 413) response.once('finish', () => request.destroy());
        } else refuse(new Refusal(500, `the model failed: ${e instanceof Error ? e.message : String(e)}`, 'server_error'));
      })
      .finally(() => {
        counts.answered++;
        inFlight.delete(work);
      });
    inFlight.add(work);
  });
  server.requestTimeout = 60_000;
  server.headersTimeout = 10_000;

  return new Promise((done, failed) => {
    server.once('error', (e: NodeJS.ErrnoException) => failed(new Error(`cannot listen on ${options.host}:${options.port}: ${e.code ?? e.message}`)));
    server.listen(options.port, options.host, () => {
      const address = server.address();
      port = typeof address === 'object' && address ? address.port : options.port;
      done({
        server,
        metrics,
        counts,
        url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`,
        async shutdown() {
          closing = true;
          const closed = new Promise<void>((resolve) => server.close(() => resolve()));
          server.closeIdleConnections();
          // Requests still being read may add texts: the queue is run at once until they are all in and answered.
          const drained = batcher.drain();
          await Promise.all([...inFlight]);
          await Promise.all([drained, batcher.drain()]);
          server.closeAllConnections();
          await closed;
        },
      });
    });
  });
}

function flag(value: unknown, param: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw new Refusal(400, `${param} must be true or false`, 'invalid_request_error', param);
  return value;
}
