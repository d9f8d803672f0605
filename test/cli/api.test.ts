// `tcc serve MODEL --api`, the HTTP inference server, as a user runs it (the
// built CLI in a process of its own): embeddings equal `tcc embed`'s,
// concurrent requests are batched together, /predict says what a
// classifier's and a masked LM's heads say, every bad request is a 4xx with a
// JSON error (10,000 random bodies among them) while the server stays up,
// and SIGTERM answers every request taken before the process exits.

import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiProcess, type ApiProcess } from '../../bench/serve.js';
import { modelsDir, specFiles, tcc } from '../helpers/cli.js';
import { rng } from '../helpers/random.js';
import { stDirectory, wordPieceTokenizer } from '../helpers/sentence-transformers.js';

/** Starts `tcc serve ... --api --port 0` and waits for the line saying where it listens. */
const serve = (...argv: string[]) => startApiProcess(argv);

const post = async (url: string, body: unknown) => {
  const response = await fetch(url, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
};

const TEXTS = ['The cat sat on the mat.', 'A dog ran fast', 'the big red dog , the slow cat', 'Cat.', 'a dog and a cat'];

describe('tcc serve --api', () => {
  const dir = stDirectory({ architectures: ['BertModel'], model_type: 'bert', type_vocab_size: 2 }, wordPieceTokenizer(), 'mean_tokens', true);
  let server: ApiProcess;
  beforeAll(async () => {
    server = await serve(dir, '--batch', '4', '--seq', '12', '--max-queue', '64', '--max-request-bytes', '4096', '--max-request-texts', '32', '--max-wait-ms', '20');
  }, 60_000);
  afterAll(() => {
    server?.child.kill('SIGKILL');
  });

  it("answers /v1/embeddings with tcc embed's embeddings, in OpenAI's shape", async () => {
    writeFileSync(join(dir, 'texts.txt'), TEXTS.join('\n') + '\n');
    const embedded = await tcc('embed', dir, '--file', join(dir, 'texts.txt'), '-o', join(dir, 'out.jsonl'));
    expect(embedded.code, embedded.stderr).toBe(0);
    const want = readFileSync(join(dir, 'out.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { embedding: number[] }).embedding);
    // The server runs each batch padding-free (its texts' tokens as one stream); tcc embed runs them padded.
    expect(server.stderr()).toMatch(/batches of up to \d+ texts and \d+ tokens, padding-free,/);
    const { status, body } = await post(`${server.url}/v1/embeddings`, { input: TEXTS, model: 'mine' });
    expect(status).toBe(200);
    expect(body['object']).toBe('list');
    expect(body['model']).toBe('mine');
    const data = body['data'] as { object: string; index: number; embedding: number[] }[];
    expect(data.map((d) => [d.object, d.index])).toEqual(TEXTS.map((_, i) => ['embedding', i]));
    data.forEach((d, i) => expect(Math.max(...d.embedding.map((v, k) => Math.abs(v - want[i]![k]!)))).toBeLessThan(1e-5));
    expect((body['usage'] as { prompt_tokens: number }).prompt_tokens).toBeGreaterThan(TEXTS.length * 3);
    // base64: the same floats, little-endian.
    const b64 = await post(`${server.url}/v1/embeddings`, { input: TEXTS[0], encoding_format: 'base64' });
    const bytes = Buffer.from((b64.body['data'] as { embedding: string }[])[0]!.embedding, 'base64');
    expect(Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4))).toEqual(data[0]!.embedding);
  });

  it('batches concurrent requests together and counts them in /metrics', async () => {
    const before = await (await fetch(`${server.url}/metrics`)).text();
    const count = (text: string, name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    const answers = await Promise.all(Array.from({ length: 24 }, (_, i) => post(`${server.url}/v1/embeddings`, { input: TEXTS[i % TEXTS.length] })));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    // The same text gives the same embedding whatever batch it ran in.
    expect((answers[5]!.body['data'] as { embedding: number[] }[])[0]!.embedding).toEqual((answers[0]!.body['data'] as { embedding: number[] }[])[0]!.embedding);
    const after = await (await fetch(`${server.url}/metrics`)).text();
    const batches = count(after, 'tcc_batches_total') - count(before, 'tcc_batches_total');
    expect(count(after, 'tcc_texts_total') - count(before, 'tcc_texts_total')).toBe(24);
    // Batches of up to 4 texts: 24 texts in at least 6 passes, and fewer than one per request.
    expect(batches).toBeGreaterThanOrEqual(6);
    expect(batches).toBeLessThan(24);
    expect(after).toMatch(/^tcc_requests_total\{endpoint="\/v1\/embeddings",code="200"\} \d+$/m);
    expect(after).toMatch(/^tcc_queue_seconds_bucket\{le="\+Inf"\} \d+$/m);
    expect(after).toMatch(/^tcc_request_seconds_count \d+$/m);
    expect((await (await fetch(`${server.url}/health`)).json())).toEqual({ status: 'ok', queued: 0 });
  });

  it('refuses bad requests with a 4xx and a JSON error naming what is wrong', async () => {
    const cases: [unknown, number, RegExp][] = [
      ['{"input": ', 400, /not valid JSON/],
      [[1, 2], 400, /must be a JSON object/],
      [{ input: 'a', colour: 'red' }, 400, /unknown field 'colour'/],
      [{ input: 3 }, 400, /input must be a string/],
      [{ input: [] }, 400, /'input' is an empty list/],
      [{}, 400, /the field 'input' is missing/],
      [{ input: 'the cat sat on the mat and the dog ran fast and the cat' }, 413, /input has 16 tokens; the model takes at most 12/],
      [{ input: Array.from({ length: 33 }, () => 'a') }, 413, /'input' has 33 texts; the server takes at most 32 per request/],
      [{ input: 'x'.repeat(5000) }, 413, /takes at most 4096 \(--max-request-bytes\)/],
      [{ input: 'a', encoding_format: 'int8' }, 400, /encoding_format must be "float" or "base64"/],
      [{ input: 'a', dimensions: 7 }, 400, /have 24 dimensions/],
    ];
    for (const [body, status, message] of cases) {
      const answer = await post(`${server.url}/v1/embeddings`, body);
      expect(answer.status, JSON.stringify(body).slice(0, 80)).toBe(status);
      expect((answer.body['error'] as { message: string }).message).toMatch(message);
    }
    // Cut to the compiled length when asked.
    expect((await post(`${server.url}/v1/embeddings`, { input: 'the cat sat on the mat and the dog ran fast and the cat', truncate: true })).status).toBe(200);
    // This model has no head: /predict says so.
    const predict = await post(`${server.url}/predict`, { inputs: 'the cat' });
    expect(predict.status).toBe(404);
    expect((predict.body['error'] as { message: string }).message).toMatch(/has no head to predict with/);
    expect((await fetch(`${server.url}/v1/embeddings`)).status).toBe(405);
    // Another name for this address (DNS rebinding): refused.
    const port = new URL(server.url).port;
    const rebound = await new Promise<number>((done, failed) => {
      const request = httpRequest({ host: '127.0.0.1', port, path: '/health', headers: { host: `evil.example:${port}` } }, (response) => done(response.statusCode!));
      request.on('error', failed).end();
    });
    expect(rebound).toBe(403);
    expect((await fetch(`${server.url}/nowhere`, { method: 'POST' })).status).toBe(404);
  });

  it('stays up through 10,000 random bodies, each a 4xx with a JSON error or an answer', { timeout: 120_000 }, async () => {
    const next = rng(7);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!;
    const pieces = ['{', '}', '[', ']', '"input"', '"inputs"', ':', ',', '"the cat"', 'null', 'true', '1e999', '-0', '"\\u0000"', '"\\ud800"', '{"input":', '"encoding_format"', '"base64"', ' ', '\n', '"truncate"'];
    const bodies = Array.from({ length: 10_000 }, (_, i) => {
      if (i % 3 === 0) return Buffer.from(Array.from({ length: Math.floor(next() * 64) }, () => Math.floor(next() * 256)));
      return Array.from({ length: 1 + Math.floor(next() * 12) }, () => pick(pieces)).join('');
    });
    const statuses = new Map<number, number>();
    for (let first = 0; first < bodies.length; first += 50) {
      await Promise.all(bodies.slice(first, first + 50).map(async (body, k) => {
        const response = await fetch(`${server.url}/${(first + k) % 2 ? 'v1/embeddings' : 'predict'}`, { method: 'POST', body });
        const answer = (await response.json()) as { error?: { message?: unknown } };
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (response.status !== 200) {
          expect(response.status).toBeGreaterThanOrEqual(400);
          expect(response.status).toBeLessThan(500);
          expect(typeof answer.error?.message).toBe('string');
        }
      }));
    }
    expect([...statuses.values()].reduce((a, b) => a + b)).toBe(10_000);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });
});

describe('tcc serve --api on a model with a head', () => {
  it("says the labels of a classifier, a tagger's tags, a QA model's answer and the tokens at [MASK] of a masked LM", { timeout: 60_000 }, async () => {
    const spec = specFiles({
      'cls.yaml': `extends: ${modelsDir()}/bert-base-classifier.yaml\nname: tiny-classifier\nconfig: {vocab_size: 20, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 24, max_position_embeddings: 16}\n`,
      'mlm.yaml': `extends: ${modelsDir()}/bert-tiny.yaml\nname: tiny-mlm\nconfig: {vocab_size: 20, max_position_embeddings: 16}\n`,
    });
    const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the', 'cat', 'dog', 'sat', 'on', 'mat', 'ran', 'fast', 'a', 'red', 'big', 'and', 'slow', '.', ','];
    const vocabFile = join(spec['cls.yaml']!, '..', 'vocab.txt');
    writeFileSync(vocabFile, vocab.join('\n') + '\n');
    const classifier = await serve(spec['cls.yaml']!, '--vocab', vocabFile, '--batch', '2', '--seq', '8', '--backend', 'js');
    try {
      const { status, body } = await post(`${classifier.url}/predict`, { inputs: ['the cat sat', { text: 'a dog', text_pair: 'ran fast' }] });
      expect(status).toBe(200);
      const predictions = body['predictions'] as { label: string; score: number; scores: { label: string; score: number }[] }[];
      expect(predictions).toHaveLength(2);
      for (const p of predictions) {
        expect(p.scores.map((s) => s.label).sort()).toEqual(['LABEL_0', 'LABEL_1']);
        expect(p.scores[0]!.label).toBe(p.label);
        expect(p.scores.reduce((sum, s) => sum + s.score, 0)).toBeCloseTo(1, 5);
      }
      const none = await post(`${classifier.url}/v1/embeddings`, { input: 'the cat' });
      expect(none.status).toBe(404);
      expect((none.body['error'] as { message: string }).message).toMatch(/gives no sentence embeddings/);
    } finally {
      classifier.child.kill('SIGKILL');
    }
    const heads = [
      ['tagger', `extends: ${modelsDir()}/bert-base-token-classifier.yaml\nname: tiny-tagger\nconfig: {vocab_size: 20, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 24, max_position_embeddings: 16}\n`],
      ['qa', `extends: ${modelsDir()}/bert-base-qa.yaml\nname: tiny-qa\nconfig: {vocab_size: 20, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 24, max_position_embeddings: 16}\n`],
    ] as const;
    for (const [name, text] of heads) {
      const file = join(spec['cls.yaml']!, '..', `${name}.yaml`);
      writeFileSync(file, text);
      const running = await serve(file, '--vocab', vocabFile, '--batch', '2', '--seq', '12', '--backend', 'js');
      try {
        const { status, body } = await post(`${running.url}/predict`, { inputs: { text: 'the cat', text_pair: 'a dog sat on the mat' } });
        expect(status).toBe(200);
        const [p] = body['predictions'] as Record<string, unknown>[];
        if (name === 'tagger') {
          // A label per token, special tokens left out.
          expect((p!['tokens'] as { token: string; label: string }[]).map((t) => t.token)).toEqual(['the', 'cat', 'a', 'dog', 'sat', 'on', 'the', 'mat']);
        } else {
          // A span of the context's tokens (random weights: whichever), or none.
          expect(p!['answer'] === null || 'a dog sat on the mat'.includes(p!['answer'] as string)).toBe(true);
          if (p!['answer'] !== null) expect((p!['tokens'] as number[])[0]).toBeGreaterThanOrEqual(4);
        }
      } finally {
        running.child.kill('SIGKILL');
      }
    }
    const mlm = await serve(spec['mlm.yaml']!, '--vocab', vocabFile, '--batch', '2', '--seq', '8', '--backend', 'js');
    try {
      const { status, body } = await post(`${mlm.url}/predict`, { inputs: 'the [MASK] sat' });
      expect(status).toBe(200);
      const masks = (body['predictions'] as { masks: { position: number; predictions: { token: string; score: number }[] }[] }[])[0]!.masks;
      expect(masks.map((m) => m.position)).toEqual([2]);
      expect(masks[0]!.predictions).toHaveLength(5);
    } finally {
      mlm.child.kill('SIGKILL');
    }
  });

  it('answers every request it took when SIGTERM comes, then exits 0', { timeout: 60_000 }, async () => {
    const dir = stDirectory({ architectures: ['BertModel'], model_type: 'bert', type_vocab_size: 2 }, wordPieceTokenizer(), 'mean_tokens', false);
    // Twelve texts wait for a batch of 16 (up to 10 s): SIGTERM comes while they wait, and runs them at once.
    const server = await serve(dir, '--batch', '16', '--seq', '12', '--max-wait-ms', '10000', '--backend', 'js');
    const requests = Array.from({ length: 12 }, (_, i) => post(`${server.url}/v1/embeddings`, { input: TEXTS[i % TEXTS.length] }).catch((e: unknown) => e));
    await new Promise((done) => setTimeout(done, 200));
    expect(((await (await fetch(`${server.url}/health`)).json()) as { queued: number }).queued).toBe(12);
    server.child.kill('SIGTERM');
    const answers = await Promise.all(requests);
    expect(answers.every((a) => (a as { status?: number }).status === 200), JSON.stringify(answers.filter((a) => (a as { status?: number }).status !== 200))).toBe(true);
    expect(await server.exited).toBe(0);
    expect(server.stderr()).toMatch(/SIGTERM: answering the requests taken, taking no more…\nstopped: 12 of the 12 requests taken were answered\n/);
  });

  it('refuses a batch of fewer tokens than one text at start-up, with both numbers', async () => {
    const dir = stDirectory({ architectures: ['BertModel'], model_type: 'bert', type_vocab_size: 2 }, wordPieceTokenizer(), 'mean_tokens', false);
    const result = await tcc('serve', dir, '--api', '--seq', '12', '--max-batch-tokens', '10');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--max-batch-tokens 10 is less than one text of the most tokens the model takes (--seq 12): give 12 or more');
  });
});
