// `npm run bench -- serve`: `tcc serve --api` under load. A bert-base
// sentence embedder (BertModel, mean pooling, Normalize; random weights) on
// the native backend, padding-free (each batch of up to 16 texts of up to
// 64 tokens one stream of their tokens), sent the SST-2 test sentences (../shared/data: their real lengths) by
// autocannon over loopback: one request at a time, then 32 clients at
// once, while /health is asked every 200 ms; then 32 clients again with
// SIGTERM in the middle, counting what was taken and what was answered.

import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Record_ } from './stats.js';
import { emit, round } from './stats.js';

const SST2 = join('..', 'shared', 'data', 'sst2', 'test.txt');
const [BATCH, SEQ] = [16, 64];

/** A sentence-transformers directory of bert-base's shape without weights (the server draws them). */
function embedder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tcc-bench-serve-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    architectures: ['BertModel'], model_type: 'bert', vocab_size: 30522, hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12,
    intermediate_size: 3072, hidden_act: 'gelu', max_position_embeddings: 512, type_vocab_size: 2, layer_norm_eps: 1e-12,
  }));
  copyFileSync(join('models', 'vocab.txt'), join(dir, 'vocab.txt'));
  writeFileSync(join(dir, 'modules.json'), JSON.stringify([
    { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
    { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
    { idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' },
  ]));
  mkdirSync(join(dir, '1_Pooling'));
  writeFileSync(join(dir, '1_Pooling', 'config.json'), JSON.stringify({ word_embedding_dimension: 768, pooling_mode_mean_tokens: true }));
  return dir;
}

export interface ApiProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
}

/** `tcc serve ARGV --api --port 0` (the built CLI) in a process of its own, once it says where it listens. */
export function startApiProcess(argv: readonly string[]): Promise<ApiProcess> {
  const child = spawn(process.execPath, ['dist/cli/tcc.js', 'serve', ...argv, '--api', '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  const exited = new Promise<number | null>((done) => child.once('exit', done));
  return new Promise((done, failed) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = /serving .* at (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
      if (match) done({ child, url: match[1]!, stderr: () => text, exited });
    });
    void exited.then((code) => failed(new Error(`the server exited (${code}):\n${text}`)));
  });
}

const serve = (dir: string) => startApiProcess([dir, '--batch', String(BATCH), '--seq', String(SEQ), '--max-queue', '1024']);

/** autocannon on /v1/embeddings, each request the next sentence. */
function load(url: string, sentences: readonly string[], options: { connections: number; amount?: number; duration?: number }): Promise<autocannon.Result> {
  let next = 0;
  return autocannon({
    url, connections: options.connections, ...(options.amount ? { amount: options.amount } : { duration: options.duration ?? 10 }), timeout: 120,
    requests: [{
      method: 'POST', path: '/v1/embeddings', headers: { 'content-type': 'application/json' },
      setupRequest: (request) => ({ ...request, body: JSON.stringify({ input: sentences[next++ % sentences.length], truncate: true }) }),
    }],
  });
}

/** Asks /health every 200 ms until stopped: the slowest answer and the failures. */
function watchHealth(url: string): { stop: () => Promise<{ worstMs: number; failures: number; asked: number }> } {
  let [worstMs, failures, asked, running] = [0, 0, 0, true];
  const loop = (async () => {
    while (running) {
      const start = performance.now();
      asked++;
      const ok = await fetch(`${url}/health`).then((r) => r.status === 200, () => false);
      if (!ok) failures++;
      worstMs = Math.max(worstMs, performance.now() - start);
      await new Promise((done) => setTimeout(done, 200));
    }
  })();
  return { stop: async () => ((running = false), await loop, { worstMs, failures, asked }) };
}

export async function benchServe(progress: (line: string) => void): Promise<Record_[]> {
  if (!existsSync(SST2)) throw new Error(`${SST2} is missing: the serve bench sends the SST-2 test sentences`);
  const sentences = readFileSync(SST2, 'utf8').trim().split('\n').map((l) => l.replace(/^\d\s+/, ''));
  const dir = embedder();
  const records: Record_[] = [];
  const record = (r: Omit<Record_, 'bench' | 'model' | 'backend' | 'batch' | 'seq'>) => {
    const full: Record_ = { bench: 'serve', model: 'bert-base embeddings', backend: 'native', batch: BATCH, seq: SEQ, ...r };
    emit(full);
    records.push(full);
  };

  progress('starting tcc serve --api (bert-base, compiled for 16 × 64)…');
  let server = await serve(dir);
  progress('one request at a time…');
  await load(server.url, sentences, { connections: 1, amount: 4 });
  const alone = await load(server.url, sentences, { connections: 1, amount: 24 });
  progress('32 clients at once, /health asked every 200 ms…');
  const health = watchHealth(server.url);
  const many = await load(server.url, sentences, { connections: 32, duration: 30 });
  const watched = await health.stop();
  for (const [name, r] of [['one at a time', alone], ['32 clients', many]] as const) {
    record({ metric: `${name}: requests/s`, value: round(r.requests.average), unit: 'req/s', repeats: r.requests.total });
    record({ metric: `${name}: latency p50`, value: r.latency.p50, unit: 'ms' });
    record({ metric: `${name}: latency p99`, value: r.latency.p99, unit: 'ms' });
    record({ metric: `${name}: errors and non-2xx`, value: r.errors + r.non2xx + r.timeouts, unit: 'requests' });
  }
  record({ metric: '32 clients: /health slowest answer', value: round(watched.worstMs), unit: 'ms', repeats: watched.asked, peer: 'failures', peer_value: watched.failures });
  record({ metric: '32 clients against one at a time: requests/s', value: round(many.requests.average / alone.requests.average), unit: 'x' });
  server.child.kill('SIGTERM');
  await server.exited;

  progress('32 clients, SIGTERM after 5 s…');
  server = await serve(dir);
  const stopping = load(server.url, sentences, { connections: 32, duration: 15 });
  await new Promise((done) => setTimeout(done, 5000));
  server.child.kill('SIGTERM');
  const [stopped, code] = await Promise.all([stopping, server.exited]);
  const said = /stopped: (\d+) of the (\d+) requests taken were answered/.exec(server.stderr());
  record({ metric: 'SIGTERM under load: requests taken', value: Number(said?.[2] ?? NaN), unit: 'requests', peer: 'answered', peer_value: Number(said?.[1] ?? NaN) });
  record({ metric: 'SIGTERM under load: 2xx the clients got', value: stopped['2xx'], unit: 'requests', peer: 'exit code', peer_value: code ?? -1 });
  return records;
}
