// Fine-tuning in the browser: `tcc serve MODEL --finetune` in headless
// Chromium (WebGPU on SwiftShader) trains a sentence classifier on a dropped
// TSV with the losses of `tcc finetune` on the JavaScript backend (a BERT
// with a vocab.txt, a RoBERTa with a byte-level BPE tokenizer.json and its
// own classification head, padding-free: its batches one stream of their
// sentences' tokens, against `tcc finetune --packed`), step by step (1e-4),
// and its downloaded weights load in `tcc run`.

import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bpeTokenizer } from '../../bench/fuzz/kinds.js';
import { finetuneOptions, startServer } from '../../cli/serve.js';
import type { FinetuneState } from '../../web/finetune.js';
import { modelsDir, tcc } from '../helpers/cli.js';
import { hasWebGpu } from '../helpers/webgpu.js';
import { CHROMIUM, launchWebGpuChromium, openTccPage, screenshotDir } from '../helpers/browser.js';

const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '.', 'the', 'a', 'cook', 'runner', 'sings', 'reads', 'paints', 'song', 'book', 'good', 'bad', 'very', 'not', 'film'];
const ready = (existsSync(CHROMIUM) && (await hasWebGpu())) || Boolean(process.env['CI']);

/** 16 sentences of two labels: good ones and bad ones. */
function tsv(): string {
  const subjects = ['the cook', 'a runner', 'the film', 'a song'];
  const rows = ['text\tlabel'];
  subjects.forEach((s, i) => {
    rows.push(`${s} is very good .\tpos`, `${s} is not bad .\tpos`, `${s} is bad .\tneg`, `${s} is ${i % 2 ? 'very' : 'not'} good . not\tneg`);
  });
  return rows.join('\n') + '\n';
}

/** A "pretrained" model directory (the weights the page starts from): a BERT with a vocab.txt, or a RoBERTa with a byte-level BPE tokenizer.json. */
async function pretrained(dir: string, family: 'bert' | 'roberta'): Promise<string> {
  const hf = join(dir, 'hf');
  const sizes = 'hidden_size: 32, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 40';
  if (family === 'bert') {
    writeFileSync(join(dir, 'vocab.txt'), VOCAB.join('\n') + '\n');
    writeFileSync(join(dir, 'tiny.yaml'), `extends: ${modelsDir()}/bert-tiny.yaml\nname: tiny\nconfig: {vocab_size: ${VOCAB.length}, ${sizes}}\n`);
    expect((await tcc('export', join(dir, 'tiny.yaml'), '--format', 'hf', '-o', hf, '--vocab', join(dir, 'vocab.txt'), '--seed', '5')).code).toBe(0);
    return hf;
  }
  const tokenizer = bpeTokenizer() as { model: { vocab: Record<string, number> } };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(join(dir, 'tiny.yaml'), `extends: ${modelsDir()}/roberta.yaml\nname: tiny-roberta\nconfig: {vocab_size: ${Object.keys(tokenizer.model.vocab).length}, num_hidden_layers: 2, ${sizes}}\n`);
  const exported = await tcc('export', join(dir, 'tiny.yaml'), '--format', 'hf', '-o', hf, '--tokenizer', join(dir, 'tokenizer.json'), '--seed', '5');
  expect(exported.code, exported.stderr).toBe(0);
  return hf;
}

describe.runIf(ready)('fine-tuning in the browser', () => {
  it.each([
    ['a BERT with a vocab.txt', 'bert', 16, false],
    ['a RoBERTa with a tokenizer.json, padding-free', 'roberta', 24, true],
  ] as const)("trains a classifier (%s) in headless Chromium with tcc finetune's losses, and downloads weights that tcc run loads", { timeout: 300_000 }, async (_, family, seq, packed) => {
    const dir = mkdtempSync(join(tmpdir(), 'tcc-finetune-page-'));
    writeFileSync(join(dir, 'train.tsv'), tsv());
    const hf = await pretrained(dir, family);

    // The oracle: tcc finetune on the JavaScript backend, the same model, data and settings.
    const settings = ['--epochs', '2', '--batch', '4', '--seq', String(seq), '--lr', '1e-3', ...(packed ? ['--packed'] : [])];
    const cli = await tcc('finetune', hf, '--task', 'classification', '--train', join(dir, 'train.tsv'), '--eval', join(dir, 'train.tsv'), '-o', join(dir, 'run'), '--backend', 'js', ...settings);
    expect(cli.code, cli.stderr).toBe(0);
    const want = readFileSync(join(dir, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { loss: number }).loss);
    expect(want).toHaveLength(8);
    expect(Math.max(...want) - Math.min(...want)).toBeGreaterThan(1e-3);

    const options = finetuneOptions(hf, { labels: '2', batch: '4', seq: String(seq), port: '0', ...(packed ? { packed: true } : {}) });
    expect(options.tokenizerJson).toBe(family === 'roberta' ? join(hf, 'tokenizer.json') : undefined);
    // The new head: BERT's classifier; RoBERTa's classification head (dense and out_proj).
    expect(options.finetune!.head).toEqual(family === 'bert' ? ['classifier.weight', 'classifier.bias'] : ['classifier.dense.weight', 'classifier.dense.bias', 'classifier.out_proj.weight', 'classifier.out_proj.bias']);
    const { server, url } = await startServer(options);
    const browser = await launchWebGpuChromium({ acceptDownloads: true });
    try {
      const { page, problems } = await openTccPage(browser, url);
      await page.setInputFiles('#data', join(dir, 'train.tsv'));
      await page.fill('#epochs', '2');
      await page.fill('#lr', '0.001');
      await page.click('#train');
      await page.waitForFunction(() => (window as { tccFinetune?: FinetuneState; tccError?: string }).tccFinetune?.done || (window as { tccError?: string }).tccError, undefined, { timeout: 240_000 });
      expect(await page.evaluate(() => (window as { tccError?: string }).tccError)).toBeUndefined();
      const state = (await page.evaluate(() => (window as { tccFinetune?: FinetuneState }).tccFinetune))!;
      expect(problems).toEqual([]);
      expect(state.labels).toEqual(['neg', 'pos']);
      expect(state.weights).toBe('the served model.safetensors');
      expect(await page.locator('#summary').innerText()).toContain(packed ? '(up to 4 sentences of up to 24 tokens, padding-free)' : '(batch 4 × seq 16)');
      expect(state.losses).toHaveLength(want.length);
      state.losses.forEach((loss, k) => expect(Math.abs(loss - want[k]!), `step ${k + 1}: page ${loss}, tcc finetune ${want[k]}`).toBeLessThan(1e-4));
      expect(await page.locator('#chart canvas').count()).toBeGreaterThan(0);
      expect(await page.locator('#status').innerText()).toMatch(/step 8\/8: loss [\d.]+.*done$/);
      if (family === 'bert') await page.screenshot({ path: join(screenshotDir(), 'finetune-page.png'), fullPage: true });

      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
      const weights = join(dir, 'downloaded.safetensors');
      await download.saveAs(weights);
      const run = await tcc('run', '--model', join(dir, 'run', 'best'), '--weights', weights, '--text', 'the cook is very good .', '--out', join(dir, 'out.safetensors'));
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain('logits [1,2]');
    } finally {
      await browser.close();
      server.close();
    }
  });
});
