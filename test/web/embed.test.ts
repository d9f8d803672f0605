// The sentence-embedding page in a real browser: `tcc serve MODEL --embed`
// on a sentence-transformers directory (a RoBERTa with a byte-level BPE
// tokenizer.json, mean pooling and Normalize), headless Chromium embedding
// the lines typed in on WebGPU (SwiftShader): the tokens of the Node
// tokenizer, the embeddings of `tcc embed` (cosine ≥ 0.99999), and the
// cosine table shown. The page's program is padding-free (the texts run
// together); `tcc embed`'s, padded.

import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bpeTokenizer } from '../../bench/fuzz/kinds.js';
import { embedOptions, startServer } from '../../cli/serve.js';
import { JsonTokenizer } from '../../train/hf-tokenizer/tokenizer.js';
import type { EmbedResult } from '../../web/embed.js';
import { tcc } from '../helpers/cli.js';
import { loadProgram } from '../../runtime/program-dir.js';
import { MAX_LENGTH, stDirectory } from '../helpers/sentence-transformers.js';
import { hasWebGpu } from '../helpers/webgpu.js';
import { CHROMIUM, launchWebGpuChromium, openTccPage, screenshotDir } from '../helpers/browser.js';

const TEXTS = ['The cat sat on the mat.', 'A dog ran fast', 'the big red dog , the slow cat and the mat sat on a mat and ran'];

const ready = (existsSync(CHROMIUM) && (await hasWebGpu())) || Boolean(process.env['CI']);

const cosine = (a: readonly number[], b: readonly number[]) => {
  let [ab, aa, bb] = [0, 0, 0];
  a.forEach((x, i) => ((ab += x * b[i]!), (aa += x * x), (bb += b[i]! * b[i]!)));
  return ab / Math.sqrt(aa * bb);
};

describe.runIf(ready)('the sentence-embedding page', () => {
  it("embeds the lines typed in with tcc embed's embeddings and shows their cosines", { timeout: 120_000 }, async () => {
    const dir = stDirectory({ architectures: ['RobertaModel'], model_type: 'roberta', type_vocab_size: 1, pad_token_id: 1, layer_norm_eps: 1e-5 }, bpeTokenizer(), 'mean_tokens', true);
    writeFileSync(join(dir, 'texts.txt'), TEXTS.join('\n') + '\n');
    const out = join(dir, 'out.jsonl');
    const node = await tcc('embed', dir, '--file', join(dir, 'texts.txt'), '-o', out, '--backend', 'js');
    expect(node.code, node.stderr).toBe(0);
    const want = readFileSync(out, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { embedding: number[] }).embedding);
    const tokenizer = JsonTokenizer.fromJson(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));

    // Compiled padding-free: the page embeds the texts together, one stream of their own tokens.
    const options = await embedOptions(dir, { port: '0' });
    expect(options.embed).toEqual({ model: dir });
    const { program } = loadProgram(options.dir);
    expect(program.symbols).toEqual([{ name: 'tokens', max: 4 * MAX_LENGTH }, { name: 'sequences', max: 16 }]);
    expect(options.tokenizerJson).toBe(join(dir, 'tokenizer.json'));
    const { server, url } = await startServer(options);
    const browser = await launchWebGpuChromium();
    try {
      const { page, problems } = await openTccPage(browser, url);
      expect(await page.locator('#title').innerText()).toContain(`sentence embeddings on`);
      expect(await page.locator('#title').innerText()).toContain(`(up to ${MAX_LENGTH} tokens)`);
      await page.fill('#texts', TEXTS.join('\n') + '\n\n');
      await page.click('#run');
      await page.waitForFunction(() => (window as { tccResult?: unknown; tccError?: string }).tccResult || (window as { tccError?: string }).tccError, undefined, { timeout: 60_000 });
      expect(await page.evaluate(() => (window as { tccError?: string }).tccError)).toBeUndefined();
      const result = (await page.evaluate(() => (window as { tccResult?: EmbedResult }).tccResult))!;
      expect(problems).toEqual([]);
      expect(result.adapter).toMatch(/^webgpu \(/);
      expect(result.texts).toEqual(TEXTS);
      expect(result.tokens).toEqual(TEXTS.map((t) => tokenizer.encode(t, { maxLength: MAX_LENGTH }).tokens));
      result.embeddings.forEach((e, i) => {
        expect(cosine(e, want[i]!), TEXTS[i]).toBeGreaterThanOrEqual(0.99999);
        expect(Math.max(...e.map((v, k) => Math.abs(v - want[i]![k]!))), TEXTS[i]).toBeLessThan(1e-4);
      });
      result.similarities.forEach((row, i) => row.forEach((s, j) => expect(s).toBeCloseTo(cosine(want[i]!, want[j]!), 4)));
      // The table: a row per text, its cosines with every text.
      const rows = await page.locator('#similarities tr').allInnerTexts();
      expect(rows).toHaveLength(TEXTS.length + 1);
      expect(rows[2]).toContain(`2. ${TEXTS[1]}`);
      expect(rows[2]).toContain(result.similarities[1]![0]!.toFixed(3));
      expect(await page.locator('#timing').innerText()).toMatch(/^3 texts → 24-dimensional embeddings in [\d.]+ ms on webgpu/);
      await page.screenshot({ path: join(screenshotDir(), 'embed-page.png'), fullPage: true });
    } finally {
      await browser.close();
      server.close();
    }
  });

  it('refuses a model without sentence embeddings, or without weights, before serving', async () => {
    const dir = stDirectory({ architectures: ['BertModel'], model_type: 'bert', type_vocab_size: 2 }, bpeTokenizer(), 'mean_tokens', false);
    rmSync(join(dir, 'model.safetensors'));
    await expect(embedOptions(dir, { port: '0' })).rejects.toThrow(`${dir} has no model.safetensors: pass --weights FILE_OR_HF_DIR`);
    rmSync(join(dir, 'modules.json'));
    await expect(embedOptions(dir, { port: '0' })).rejects.toThrow(/has no output sentence_embedding/);
    const served = await tcc('serve', dir, '--embed', '--labels', '2');
    expect(served.code).toBe(2);
    expect(served.stderr).toMatch(/--labels goes with --finetune/);
    const packed = await tcc('serve', dir, '--embed', '--packed');
    expect(packed.code).toBe(2);
    expect(packed.stderr.trim()).toBe('tcc: error: --packed goes with --finetune (--embed compiles padding-free where the model can)');
  });
});
