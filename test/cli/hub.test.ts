// Models by HuggingFace Hub id: found in a cache laid out as huggingface_hub
// writes it, downloaded from a server laid out as the Hub's resolve URLs
// when absent (the same cache layout, hashes checked, an interrupted
// download resumed), and one line when neither the cache nor the Hub has it.

import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { buildProgram } from '../../compiler/program.js';
import { initParams } from '../../runtime/init.js';
import { writeSafetensors } from '../../runtime/safetensors.js';
import { modelsDir, tcc } from '../helpers/cli.js';
import { gitBlobSha1, sha256, startHubServer, type HubServer } from '../helpers/hub-server.js';
import { bpeTokenizer } from '../../bench/fuzz/kinds.js';

const ID = 'google/bert_uncased_L-2_H-128_A-2';
const COMMIT = '1d6ba5fc0e45c1b0a4de4b61fa5e0e7e4b4e4f51';
/** bert-tiny's settings (as the Hub's config.json of this id), with the masked-LM head. */
const CONFIG = { architectures: ['BertForMaskedLM'], model_type: 'bert', pad_token_id: 0, position_embedding_type: 'absolute', transformers_version: '4.6.0.dev0', hidden_size: 128, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 512, vocab_size: 30522, max_position_embeddings: 512, type_vocab_size: 2, hidden_act: 'gelu', hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1, initializer_range: 0.02 };

let files: Record<string, Uint8Array>;
let hub: HubServer;
const saved = { ...process.env };

/** Runs tcc with the HuggingFace environment set for this call. */
async function withEnv<T>(env: Record<string, string | undefined>, f: () => Promise<T>): Promise<T> {
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await f();
  } finally {
    for (const k of Object.keys(env)) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
}

const fillMask = (cache: string, env: Record<string, string | undefined> = {}) =>
  withEnv({ HF_HUB_CACHE: cache, HF_ENDPOINT: hub.url, HF_HUB_OFFLINE: undefined, ...env }, () => tcc('run', '--model', ID, '--text', 'the capital of france is [MASK] .', '--backend', 'js'));

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tcc-hub-model-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(CONFIG, null, 2));
  const { program } = buildProgram(compileFile(dir, { seq: 8 }).graph);
  const values = initParams(program.params, 7);
  files = {
    'config.json': readFileSync(join(dir, 'config.json')),
    'vocab.txt': readFileSync(join(modelsDir(), 'vocab.txt')),
    'model.safetensors': writeSafetensors(Object.fromEntries(program.params.map((p) => [p.name, { dtype: 'F32' as const, shape: p.shape, data: values[p.name]! }]))),
  };
  hub = await startHubServer({ [ID]: { commit: COMMIT, files } });
});

afterAll(() => hub.close());

/** A cache laid out as huggingface_hub writes one: refs, blobs by hash, snapshot links. */
function pythonCache(): string {
  const cache = mkdtempSync(join(tmpdir(), 'tcc-hf-cache-'));
  const repo = join(cache, `models--${ID.replace('/', '--')}`);
  mkdirSync(join(repo, 'refs'), { recursive: true });
  mkdirSync(join(repo, 'blobs'));
  mkdirSync(join(repo, 'snapshots', COMMIT), { recursive: true });
  writeFileSync(join(repo, 'refs', 'main'), COMMIT);
  for (const [name, bytes] of Object.entries(files)) {
    const blob = name === 'model.safetensors' ? sha256(bytes) : gitBlobSha1(bytes);
    writeFileSync(join(repo, 'blobs', blob), bytes);
    symlinkSync(join('..', '..', 'blobs', blob), join(repo, 'snapshots', COMMIT, name));
  }
  return cache;
}

describe('HuggingFace Hub ids', () => {
  it('runs a model found in the HuggingFace cache, offline', async () => {
    const cache = pythonCache();
    const { code, stderr } = await fillMask(cache, { HF_HUB_OFFLINE: '1', HF_ENDPOINT: 'http://127.0.0.1:9' });
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/weights .*snapshots\/1d6ba5fc0e45c1b0a4de4b61fa5e0e7e4b4e4f51\/model\.safetensors/);
    expect(stderr).toMatch(/tokens \[CLS\] the capital of france is \[MASK\] \. \[SEP\]/);
    expect(stderr).toMatch(/\[MASK\] at 6: \S+ 0\.\d{3}/);
    // --vocab takes an id too.
    const tokens = await withEnv({ HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1' }, () => tcc('tokenize', '--vocab', ID, '--text', 'Hello, world!'));
    expect(tokens.stdout).toMatch(/^tokens +\[CLS\] hello , world ! \[SEP\]$/m);
  });

  it('downloads a model absent from the cache into the same layout, checks its hashes and resumes an interrupted download', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'tcc-hf-empty-'));
    hub.cutAfter = 1 << 20;
    const cut = await fillMask(cache);
    expect(cut.code, cut.stderr).toBe(1);
    expect(cut.stderr).toMatch(/^tcc: error: downloading model\.safetensors stopped .*; run again to resume$/m);
    const repo = join(cache, `models--${ID.replace('/', '--')}`);
    const blobs = join(repo, 'blobs');
    const partial = readdirSync(blobs).find((f) => f.endsWith('.incomplete'))!;
    expect(readFileSync(join(blobs, partial)).length).toBe(1 << 20);

    const start = hub.requests.length;
    const again = await fillMask(cache);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/resuming model\.safetensors at 1 of \d+ MB/);
    expect(hub.requests.slice(start).find((r) => r.path.startsWith('/storage/'))?.range).toBe(`bytes=${1 << 20}-`);
    // huggingface_hub's layout: refs/main, blobs named by hash, snapshot links to them.
    expect(readFileSync(join(repo, 'refs', 'main'), 'utf8')).toBe(COMMIT);
    const link = join(repo, 'snapshots', COMMIT, 'model.safetensors');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(join('..', '..', 'blobs', sha256(files['model.safetensors']!)));
    expect(readlinkSync(join(repo, 'snapshots', COMMIT, 'config.json'))).toBe(join('..', '..', 'blobs', gitBlobSha1(files['config.json']!)));
    expect(existsSync(join(repo, '.no_exist', COMMIT, 'tokenizer.json'))).toBe(true);

    // Now cached: nothing is asked of the Hub, even offline.
    const before = hub.requests.length;
    expect((await fillMask(cache, { HF_HUB_OFFLINE: '1' })).code).toBe(0);
    expect(hub.requests.length).toBe(before);
  });

  it('refuses bytes that do not match the Hub\'s hash, and says in one line what to do offline or unreachable', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'tcc-hf-bad-'));
    hub.corrupt = true;
    const bad = await fillMask(cache).finally(() => (hub.corrupt = false));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^tcc: error: model\.safetensors as downloaded does not match the Hub's hash \(\w+… against \w+…\); it was removed: run again$/m);
    expect(readdirSync(join(cache, `models--${ID.replace('/', '--')}`, 'blobs')).filter((f) => f.includes('incomplete'))).toEqual([]);

    const offline = await fillMask(mkdtempSync(join(tmpdir(), 'tcc-hf-off-')), { HF_HUB_OFFLINE: '1' });
    expect(offline.code).toBe(2);
    expect(offline.stderr).toMatch(/^tcc: error: google\/bert_uncased_L-2_H-128_A-2 is not in the HuggingFace cache \(.*\) and HF_HUB_OFFLINE is set: download it where the Hub can be reached \(huggingface-cli download google\/bert_uncased_L-2_H-128_A-2\), or point HF_HUB_CACHE at a cache that has it\n$/);
    const unreachable = await fillMask(mkdtempSync(join(tmpdir(), 'tcc-hf-down-')), { HF_ENDPOINT: 'http://127.0.0.1:9' });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/^tcc: error: google\/bert_uncased_L-2_H-128_A-2 is not in the HuggingFace cache .* and the Hub \(http:\/\/127\.0\.0\.1:9\) cannot be reached \(.*\): download it where/m);
    const unknown = await withEnv({ HF_HUB_CACHE: mkdtempSync(join(tmpdir(), 'tcc-hf-none-')), HF_ENDPOINT: hub.url }, () => tcc('compile', 'nobody/no-such-model'));
    expect(unknown.stderr).toMatch(/^tcc: error: there is no model 'nobody\/no-such-model' on the HuggingFace Hub$/m);
  });
});

describe('a sentence-transformers model by Hub id', () => {
  it('downloads its modules and pooling settings, and tcc embed pools and normalizes as they say', async () => {
    const id = 'sentence-transformers/tiny-test';
    const modules = [
      { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
      { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
      { idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' },
    ];
    const text = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    const st = await startHubServer({
      [id]: {
        commit: '2d6ba5fc0e45c1b0a4de4b61fa5e0e7e4b4e4f52',
        files: {
          ...files, 'modules.json': text(modules), 'sentence_bert_config.json': text({ max_seq_length: 16, do_lower_case: false }),
          '1_Pooling/config.json': text({ word_embedding_dimension: 128, pooling_mode_cls_token: false, pooling_mode_mean_tokens: true, pooling_mode_max_tokens: false }),
        },
      },
    });
    try {
      const cache = mkdtempSync(join(tmpdir(), 'tcc-hub-st-'));
      const result = await withEnv({ HF_HUB_CACHE: cache, HF_ENDPOINT: st.url, HF_HUB_OFFLINE: undefined }, () => tcc('embed', id, '--text', 'the capital of france is paris .', '--backend', 'js'));
      expect(result.code, result.stderr).toBe(0);
      const { embedding } = JSON.parse(result.stdout) as { embedding: number[] };
      expect(embedding).toHaveLength(128);
      expect(Math.hypot(...embedding)).toBeCloseTo(1, 5);
      expect(result.stderr).toMatch(/1 text → 128-dimensional embeddings/);
    } finally {
      st.close();
    }
  });
});

describe('a tokenizer by Hub id', () => {
  it("downloads the model's tokenizer.json alone, and tcc tokenize reads it", async () => {
    const id = 'FacebookAI/tiny-bpe';
    const st = await startHubServer({ [id]: { commit: '3d6ba5fc0e45c1b0a4de4b61fa5e0e7e4b4e4f53', files: { 'config.json': files['config.json']!, 'tokenizer.json': new TextEncoder().encode(JSON.stringify(bpeTokenizer())) } } });
    try {
      const cache = mkdtempSync(join(tmpdir(), 'tcc-hub-tok-'));
      const result = await withEnv({ HF_HUB_CACHE: cache, HF_ENDPOINT: st.url, HF_HUB_OFFLINE: undefined }, () => tcc('tokenize', '--tokenizer', id, '--text', 'the cat sat'));
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain('<s> t h e Ġcat Ġsat </s>');
      const snapshot = join(cache, 'models--FacebookAI--tiny-bpe', 'snapshots', '3d6ba5fc0e45c1b0a4de4b61fa5e0e7e4b4e4f53');
      expect(readdirSync(snapshot)).toEqual(['tokenizer.json']);
    } finally {
      st.close();
    }
  });
});
