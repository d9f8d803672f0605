// The pictures, rendered by headless Chromium and read back from the page:
// the fused graph has one outlined cluster per kernel, labelled with its
// FLOPs and bytes; the memory plan one rectangle per planned buffer, none
// overlapping another, with the live-bytes line; a training report a chart
// per curve. UPDATE_SCREENSHOTS=1 writes the screenshots shown in the README
// (docs/); otherwise they go to a temporary directory.

import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { foldedLayers, memoryPicture } from '../../compiler/pictures.js';
import { buildProgram } from '../../compiler/program.js';
import { modelsDir, tcc } from '../helpers/cli.js';
import { pretrainWorkspace } from '../helpers/corpus.js';
import { CHROMIUM, screenshotDir } from '../helpers/browser.js';

const shots = screenshotDir();

async function withPage<T>(file: string, work: (page: Page) => Promise<T>): Promise<T> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 860 } });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`file://${file}`);
    const result = await work(page);
    expect(problems).toEqual([]);
    return result;
  } finally {
    await browser.close();
  }
}

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

describe.runIf(existsSync(CHROMIUM) || Boolean(process.env['CI']))('pictures in the browser', () => {
  it('draws the fused graph: one outlined cluster per kernel, labelled with its FLOPs and bytes', { timeout: 60_000 }, async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tcc-pic-')), 'tiny.html');
    const result = await tcc('compile', join(modelsDir(), 'bert-tiny.yaml'), '--seq', '16', '--emit', 'html', '-o', file);
    expect(result.code, result.stderr).toBe(0);
    const { graph } = compileFile(join(modelsDir(), 'bert-tiny.yaml'), { seq: 16 });
    const compiled = buildProgram(graph);
    const kernels = compiled.kernels;
    // bert-tiny's second layer is the first's again: one box "× 2", its 7 kernels not outlined.
    const { folded } = foldedLayers(graph, compiled);
    expect(folded.size).toBe(7);
    expect(result.stderr).toContain(`${kernels.length - 7} kernels outlined in the graph (and 7 of repeated layers, each run of them one box)`);
    await withPage(file, async (page) => {
      const clusters = page.locator('#graph svg g.cluster');
      expect(await clusters.count()).toBe(kernels.length - 7);
      expect(await page.locator('#graph svg g.node text').allTextContents()).toContain('bert.encoder.layer.1 … bert.encoder.layer.1: 1 more as bert.encoder.layer.0 (× 2 in all)');
      const labels = await clusters.locator('> text').allTextContents();
      expect(labels.join(' ')).toContain(kernels[0]!.name);
      for (const label of labels) expect(label).toMatch(/^k\d+_\w+ · [\d.]+ [kMGT]?FLOP · [\d.]+ [kMG]?B$/);
      // Each kernel's ops are drawn inside its outline: every matmul kernel's box holds a node labelled matmul.
      const matmuls = kernels.flatMap((k, i) => (k.kind === 'matmul' && !folded.has(i) ? [i] : []));
      const inside = await page.evaluate((ids) => ids.map((i) => {
        const outline = (document.querySelector(`#graph svg g#kernel-${i}`) as SVGGraphicsElement).getBBox();
        return Array.from(document.querySelectorAll('#graph svg g.node')).some((n) => {
          const b = (n as SVGGraphicsElement).getBBox();
          const within = b.x >= outline.x && b.y >= outline.y && b.x + b.width <= outline.x + outline.width && b.y + b.height <= outline.y + outline.height;
          return within && /^matmul /.test(n.querySelector('text:last-of-type')?.textContent ?? '');
        });
      }), matmuls);
      expect(inside).toEqual(matmuls.map(() => true));
      const box = (await page.locator('#graph .picture').boundingBox())!;
      await page.screenshot({ path: join(shots, 'fused-graph.png'), clip: { x: box.x, y: box.y, width: Math.min(box.width, 1050), height: 800 }, fullPage: true });
    });
  });

  it('draws the memory plan: one rectangle per planned buffer, none overlapping, and the live bytes', { timeout: 60_000 }, async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tcc-pic-')), 'train.html');
    const args = ['--mode', 'train', '--batch', '8', '--seq', '128', '--max-predictions', '20'];
    const result = await tcc('compile', join(modelsDir(), 'bert-tiny.yaml'), ...args, '--emit', 'html', '-o', file);
    expect(result.code, result.stderr).toBe(0);
    const { graph } = compileFile(join(modelsDir(), 'bert-tiny.yaml'), { mode: 'train', batch: 8, seq: 128, maxPredictions: 20 });
    const planned = memoryPicture(graph, buildProgram(graph)).buffers.length;
    expect(planned).toBeGreaterThan(20);
    await withPage(file, async (page) => {
      const boxes = await page.locator('#memory svg g.mark-rect path').evaluateAll((paths) => paths.map((p) => {
        const b = (p as SVGGraphicsElement).getBBox();
        return { x: b.x, y: b.y, width: b.width, height: b.height };
      }));
      expect(boxes).toHaveLength(planned);
      const overlap = (a: Box, b: Box) => Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x) - 0.01) * Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y) - 0.01);
      for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) expect(overlap(boxes[i]!, boxes[j]!), `rectangles ${i} and ${j}`).toBe(0);
      expect(await page.locator('#memory svg g.mark-line path').count()).toBe(1);
      expect(await page.locator('#memory svg').textContent()).toMatch(/lower bound [\d.]+ MiB/);
      await page.locator('#memory .picture').screenshot({ path: join(shots, 'memory-plan.png') });
    });
  });

  it('draws a training run: a chart per curve and the run\'s settings', { timeout: 120_000 }, async () => {
    const dir = pretrainWorkspace(12);
    expect((await tcc('pretrain', join(dir, 'tiny.yaml'), '--corpus', join(dir, 'corpus.txt'), '--vocab', join(dir, 'vocab.txt'), '-o', join(dir, 'run'), '--seq', '32', '--batch', '8', '--steps', '24', '--lr', '2e-3', '--warmup', '4', '--save-every', '12', '--validation', join(dir, 'corpus.txt'))).code).toBe(0);
    const file = join(dir, 'report.html');
    const result = await tcc('report', join(dir, 'run'), '-o', file);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('7 charts (loss, accuracy, lr, grad-norm, throughput, validation-loss, validation-accuracy) from 24 steps');
    await withPage(file, async (page) => {
      for (const id of ['loss', 'accuracy', 'lr', 'grad-norm', 'throughput', 'validation-loss', 'validation-accuracy']) {
        expect(await page.locator(`#${id} svg g.mark-line path`).count(), id).toBeGreaterThan(0);
      }
      expect(await page.locator('#loss svg').textContent()).toContain('mlm_loss');
      expect(await page.locator('#validation-loss svg').textContent()).toContain('val_mlm_loss');
      expect(await page.locator('table').innerText()).toMatch(/validation\s+step 24, val_mlm_loss [\d.]+/);
      expect(await page.locator('table').innerText()).toMatch(/trainer\s+step 24, seed 0, batch 8, seq 32/);
      await page.screenshot({ path: join(shots, 'training-report.png'), fullPage: true });
    });
    expect((await tcc('report', join(dir, 'nowhere'), '-o', file)).stderr).toMatch(/no such run directory/);
  });
});
