// The web page in a real browser: headless Chromium (WebGPU on its bundled
// SwiftShader) loads a compiled model directory from `tcc serve`, runs the
// text typed into the page, and shows the same tokens and [MASK] predictions
// as the Node run of the same directory (Dawn on the machine's adapter).

import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { initParams } from '../../runtime/init.js';
import { loadProgram } from '../../runtime/program-dir.js';
import { writeSafetensors } from '../../runtime/safetensors.js';
import { openSession } from '../../runtime/session.js';
import { maskPredictions } from '../../train/predictions.js';
import { vocabTokens, WordPieceTokenizer } from '../../train/tokenizer.js';
import { JsonTokenizer } from '../../train/hf-tokenizer/tokenizer.js';
import { bpeTokenizer } from '../../bench/fuzz/kinds.js';
import { serveOptions, startServer } from '../../cli/serve.js';
import type { PageResult } from '../../web/app.js';
import { closeness } from '../backends/op-table.js';
import { modelsDir, specFiles, tcc } from '../helpers/cli.js';
import { hasWebGpu } from '../helpers/webgpu.js';
import { CHROMIUM, launchWebGpuChromium, openTccPage, screenshotDir } from '../helpers/browser.js';

const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '.', 'the', 'cook', 'runner', 'sings', 'reads', 'paints', 'run', '##s', '##ing', '##er', 'a', 'song', 'book'];
const TEXT = 'The runner sings a [MASK] . the cook [MASK] a book .';

const ready = (existsSync(CHROMIUM) && (await hasWebGpu())) || Boolean(process.env['CI']);

describe.runIf(ready)('the web page', () => {
  it('runs the model typed text in headless Chromium with the Node run\'s tokens and predictions', { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcc-web-'));
    const spec = specFiles({ 'tiny.yaml': `extends: ${modelsDir()}/bert-tiny.yaml\nname: tiny\nconfig: {vocab_size: ${VOCAB.length}, max_position_embeddings: 32}\n` })['tiny.yaml']!;
    expect((await tcc('compile', spec, '--target', 'wgsl', '--batch', '1', '--seq', '16', '-o', dir)).code).toBe(0);
    const loaded = loadProgram(dir);
    const params = initParams(loaded.program.params, 4);
    writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(Object.fromEntries(loaded.program.params.map((p) => [p.name, { dtype: 'F32' as const, shape: p.shape, data: params[p.name]! }]))));
    writeFileSync(join(dir, 'vocab.txt'), VOCAB.join('\n') + '\n');

    // The Node run of the same directory.
    const tokenizer = WordPieceTokenizer.fromVocabText(VOCAB.join('\n'), { lowercase: true });
    const encoding = tokenizer.encode(TEXT, { maxLength: 16, pad: true });
    const session = await openSession(loaded);
    session.setParams(params);
    const logits = (await session.run({ input_ids: encoding.input_ids, token_type_ids: encoding.token_type_ids, attention_mask: encoding.attention_mask }, undefined, ['prediction_logits']))['prediction_logits']!;
    const predictions = maskPredictions(tokenizer.vocab, encoding.tokens, logits.data, VOCAB.length);
    expect(predictions.map((p) => p.position)).toEqual([5, 9]);

    const { server, url } = await startServer(serveOptions(dir, { port: '0' }));
    // With WebGPU, without it (the page then runs WebAssembly in the tab), and with it but JavaScript chosen.
    for (const { webgpu, query } of [{ webgpu: true, query: '' }, { webgpu: false, query: '' }, { webgpu: true, query: '?backend=js' }]) {
      const onGpu = webgpu && !query;
      const browser = await launchWebGpuChromium({ webgpu });
      try {
        const { page, problems } = await openTccPage(browser, url + query);
        await page.fill('#text', TEXT);
        await page.click('#run');
        await page.waitForFunction(() => (window as { tccResult?: unknown; tccError?: string }).tccResult || (window as { tccError?: string }).tccError, undefined, { timeout: 60_000 });
        const result = await page.evaluate(() => (window as { tccResult?: PageResult }).tccResult);
        expect(problems).toEqual([]);
        expect(result).toBeDefined();
        // The page is cross-origin isolated, so WebAssembly runs on a thread per core, the tab's own and workers.
        const { isolated, cores } = await page.evaluate(() => ({ isolated: crossOriginIsolated, cores: navigator.hardwareConcurrency }));
        expect(isolated).toBe(true);
        const threads = Math.min(16, cores);
        expect(result!.adapter).toEqual(onGpu ? expect.stringMatching(/^webgpu \(/) : query ? 'cpu (JavaScript)' : `cpu (WebAssembly SIMD, ${threads} thread${threads === 1 ? '' : 's'})`);
        expect(result!.tokens).toEqual(encoding.tokens.filter((_, i) => encoding.attention_mask[i]));
        expect(result!.predictions.map((p) => p.position)).toEqual([5, 9]);
        result!.predictions.forEach((p, i) => {
          expect(p.top.map((t) => t.id)).toEqual(predictions[i]!.top.map((t) => t.id));
          expect(closeness(result!.maskLogits[i]!, logits.data.subarray(p.position * VOCAB.length, (p.position + 1) * VOCAB.length), 1e-4, 1e-4)).toBeLessThanOrEqual(1);
        });
        // What the page shows: the tokens and the predictions.
        expect(await page.locator('#tokens .token').count()).toBe(result!.tokens.length);
        expect(await page.locator('#predictions').innerText()).toContain(`${predictions[0]!.top[0]!.token} ${predictions[0]!.top[0]!.probability.toFixed(3)}`);
        expect(await page.locator('#timing').innerText()).toMatch(onGpu ? /^forward pass [\d.]+ ms on webgpu/ : query ? /^forward pass [\d.]+ ms on cpu \(JavaScript\)/ : /^forward pass [\d.]+ ms on cpu \(WebAssembly/);
        if (!webgpu) {
          expect(await page.locator('#adapter').innerText()).toMatch(/^WebGPU is not available in this browser.*: running on the CPU in this tab \(WebAssembly\)/);
          await page.screenshot({ path: join(screenshotDir(), 'wasm-page.png'), fullPage: true });
        }
        // The chooser offers what runs in this browser; choosing reloads the page on it.
        expect(await page.locator('#backend option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(webgpu ? ['webgpu', 'wasm', 'js'] : ['wasm', 'js']);
        if (query) {
          expect(await page.locator('#backend').inputValue()).toBe('js');
          await page.selectOption('#backend', 'webgpu');
          await page.waitForURL(/backend=webgpu/);
          await page.waitForFunction(() => (window as { tccReady?: boolean; tccError?: string }).tccReady || (window as { tccError?: string }).tccError, undefined, { timeout: 60_000 });
          expect(await page.locator('#adapter').innerText()).toMatch(/^webgpu \(/);
        }
      } finally {
        await browser.close();
      }
    }
    server.close();
  });

  it("reads a RoBERTa's tokenizer.json and predicts at its <mask> with the Node run's tokens, padding-free: the text's own tokens, not padded", { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcc-web-'));
    const json = bpeTokenizer() as { model: { vocab: Record<string, number> } };
    const spec = specFiles({ 'r.yaml': `extends: ${modelsDir()}/roberta.yaml\nname: tiny-roberta\nconfig: {vocab_size: ${Object.keys(json.model.vocab).length}, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 24, max_position_embeddings: 24}\n` })['r.yaml']!;
    expect((await tcc('compile', spec, '--target', 'wgsl', '--batch', '1', '--seq', '16', '-o', dir)).code).toBe(0);
    const loaded = loadProgram(dir);
    const params = initParams(loaded.program.params, 4);
    writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(Object.fromEntries(loaded.program.params.map((p) => [p.name, { dtype: 'F32' as const, shape: p.shape, data: params[p.name]! }]))));
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
    const text = 'the cat <mask> fast';
    const tokenizer = JsonTokenizer.fromJson(JSON.stringify(json));
    const encoding = tokenizer.encode(text, { maxLength: 16, pad: true });
    const session = await openSession(loaded);
    session.setParams(params);
    const logits = (await session.run({ input_ids: encoding.input_ids, token_type_ids: encoding.token_type_ids, attention_mask: encoding.attention_mask }, undefined, ['prediction_logits']))['prediction_logits']!;
    const vocabSize = logits.shape.at(-1)!;
    const tokens = vocabTokens(tokenizer, encoding);
    const predictions = maskPredictions(tokenizer.vocab, tokens, logits.data, vocabSize, 5, '<mask>');
    expect(predictions).toHaveLength(1);

    // The page runs a padding-free program of the same model (positions from padding_idx + 1 within the text); the reference, the padded one.
    const packed = join(dir, 'packed');
    expect((await tcc('compile', spec, '--target', 'wgsl', '--packed', '--batch', '4', '--seq', '16', '-o', packed)).code).toBe(0);
    const options = serveOptions(packed, { port: '0', weights: join(dir, 'model.safetensors'), tokenizer: join(dir, 'tokenizer.json') });
    expect(options.tokenizerJson).toBe(join(dir, 'tokenizer.json'));
    const { server, url } = await startServer(options);
    const browser = await launchWebGpuChromium();
    try {
      const { page, problems } = await openTccPage(browser, url);
      expect(await page.locator('#status').innerText()).toBe('ready: type a text with <mask> and press Run');
      await page.fill('#text', text);
      await page.click('#run');
      await page.waitForFunction(() => (window as { tccResult?: unknown; tccError?: string }).tccResult || (window as { tccError?: string }).tccError, undefined, { timeout: 60_000 });
      const result = (await page.evaluate(() => (window as { tccResult?: PageResult }).tccResult))!;
      expect(problems).toEqual([]);
      expect(result.mask).toBe('<mask>');
      expect(result.tokens).toEqual(tokens.filter((_, i) => encoding.attention_mask[i]));
      expect(result.predictions.map((p) => p.top.map((t) => t.id))).toEqual(predictions.map((p) => p.top.map((t) => t.id)));
      result.predictions.forEach((p, i) => expect(closeness(result.maskLogits[i]!, logits.data.subarray(p.position * vocabSize, (p.position + 1) * vocabSize), 1e-4, 1e-4)).toBeLessThanOrEqual(1));
      expect(await page.locator('#tokens .token.mask').innerText()).toBe('<mask>');
    } finally {
      await browser.close();
      server.close();
    }
  });
});
