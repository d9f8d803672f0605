// `tcc serve` serves its page, the runtime's JavaScript and the model
// directory's files, and nothing else: no path out of them (dot segments,
// plain or percent-encoded, or a symlink pointing out), no method but GET and
// HEAD, no malformed path; it listens on 127.0.0.1 unless told otherwise.

import { request } from 'node:http';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostAllowed, MAX_DOWNLOADS, serveOptions, startServer } from '../../cli/serve.js';
import { initParams } from '../../runtime/init.js';
import { loadProgram } from '../../runtime/program-dir.js';
import { writeSafetensors } from '../../runtime/safetensors.js';
import { modelsDir, specFiles, tcc } from '../helpers/cli.js';

/** A raw request: the path goes out exactly as written (fetch would normalize it). */
function get(url: string, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((done, failed) => {
    const req = request({ hostname, port, path, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => done({ status: res.statusCode!, body }));
    });
    req.on('error', failed);
    req.end(method === 'POST' ? 'x'.repeat(1000) : undefined);
  });
}

describe('tcc serve', () => {
  it('serves only its files: no way out by dot segments, encodings or symlinks; GET and HEAD only', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcc-serve-'));
    const spec = specFiles({ 't.yaml': `extends: ${modelsDir()}/bert-tiny.yaml\nconfig: {vocab_size: 8, hidden_size: 16, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 8}\n` })['t.yaml']!;
    expect((await tcc('compile', spec, '--target', 'wgsl', '--batch', '1', '--seq', '8', '-o', dir)).code).toBe(0);
    const { program } = loadProgram(dir);
    const params = initParams(program.params, 1);
    writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(Object.fromEntries(program.params.map((p) => [p.name, { dtype: 'F32' as const, shape: p.shape, data: params[p.name]! }]))));
    writeFileSync(join(dir, 'vocab.txt'), ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'a', 'b', 'c'].join('\n') + '\n');
    symlinkSync('/etc/hostname', join(dir, 'out.json'));

    // The page runs one text: a program of batch 1, or a padding-free one of any batch; inference only.
    for (const [flags, refused] of [[['--batch', '2'], 'was compiled for batch 2; the page needs --batch 1 (or --packed: any text up to its length, unpadded)'], [['--mode', 'train', '--batch', '1'], 'holds a train program; the page runs inference programs']] as const) {
      const other = join(dir, flags.join('').replace(/-/g, ''));
      expect((await tcc('compile', spec, '--target', 'wgsl', ...flags, '--seq', '8', '-o', other)).code).toBe(0);
      expect(() => serveOptions(other, { port: '0' })).toThrow(`${other} ${refused}`);
    }
    const packed = join(dir, 'packed');
    expect((await tcc('compile', spec, '--target', 'wgsl', '--packed', '--batch', '4', '--seq', '8', '-o', packed)).code).toBe(0);
    expect(serveOptions(packed, { port: '0', weights: join(dir, 'model.safetensors'), vocab: join(dir, 'vocab.txt') }).dir).toBe(packed);

    const options = serveOptions(dir, { port: '0' });
    expect(options.host).toBe('127.0.0.1');
    const { server, url } = await startServer(options);
    try {
      expect((await get(url, '/')).status).toBe(200);
      expect((await get(url, '/model/program.json')).status).toBe(200);
      // The kernels' sources are not what the page runs: it generates its own from program.json.
      expect((await get(url, '/model/kernels.js')).status).toBe(404);
      expect((await get(url, '/dist/web/app.js')).status).toBe(200);
      for (const path of [
        '/model/wgsl/../../../../etc/passwd',
        '/model/wgsl/..%2f..%2f..%2f..%2fetc%2fpasswd',
        '/model/wgsl/%2e%2e/%2e%2e/%2e%2e/etc/passwd.wgsl',
        '/dist/..%2f..%2fpackage.json',
        '/dist/%2e%2e%2fpackage.json.js',
        '//etc/passwd',
        '/model/out.json',
        '/model/',
      ]) {
        const { status, body } = await get(url, path);
        expect(status, path).toBe(404);
        expect(body, path).not.toMatch(/root:|"name": "tcc"/);
      }
      expect((await get(url, '/%E0%A4%A')).status).toBe(400);
      expect((await get(url, '/', 'POST')).status).toBe(405);
      expect((await get(url, '/', 'PUT')).status).toBe(405);
      expect((await get(url, '/', 'GET', { 'x-big': 'y'.repeat(20_000) })).status).toBe(431);
    } finally {
      server.close();
    }
  });

  it('answers only to its own address and localhost (no DNS rebinding), and streams at most a few files at once', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcc-serve-'));
    const spec = specFiles({ 't.yaml': `extends: ${modelsDir()}/bert-tiny.yaml\nconfig: {vocab_size: 8, hidden_size: 16, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 8}\n` })['t.yaml']!;
    expect((await tcc('compile', spec, '--batch', '1', '--seq', '8', '-o', dir)).code).toBe(0);
    const { program } = loadProgram(dir);
    // Weights of 16 MB: more than a socket's buffers hold for a client that never reads.
    const big = program.params.map((p) => [p.name, { dtype: 'F32' as const, shape: p.shape, data: new Float32Array(p.shape.reduce((a, d) => a * d, 1)) }] as const);
    writeFileSync(join(dir, 'model.safetensors'), writeSafetensors({ ...Object.fromEntries(big), padding: { dtype: 'F32', shape: [4 << 20], data: new Float32Array(4 << 20) } }));
    writeFileSync(join(dir, 'vocab.txt'), ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'a', 'b', 'c'].join('\n') + '\n');
    const { server, url } = await startServer(serveOptions(dir, { port: '0' }));
    const port = Number(new URL(url).port);
    try {
      expect((await get(url, '/', 'GET', { host: `evil.example:${port}` })).status).toBe(403);
      expect((await get(url, '/', 'GET', { host: `127.0.0.1.evil.example:${port}` })).status).toBe(403);
      expect((await get(url, '/', 'GET', { host: `localhost:${port}` })).status).toBe(200);
      expect((await get(url, '/', 'GET', { host: `127.0.0.1:${port}` })).status).toBe(200);
      // Clients that ask for the weights and never read: a few are streamed, the rest told to come back.
      const rss = process.memoryUsage().rss;
      const stalled = await Promise.all(Array.from({ length: MAX_DOWNLOADS + 6 }, () => new Promise<{ status: number; close(): void }>((done, failed) => {
        const req = request({ hostname: '127.0.0.1', port, path: '/model/model.safetensors' }, (res) => {
          res.pause();
          done({ status: res.statusCode!, close: () => req.destroy() });
        });
        req.on('error', failed);
        req.end();
      })));
      expect(stalled.filter((r) => r.status === 200)).toHaveLength(MAX_DOWNLOADS);
      expect(stalled.filter((r) => r.status === 503)).toHaveLength(6);
      expect(process.memoryUsage().rss - rss).toBeLessThan(64 << 20);
      for (const r of stalled) r.close();
      // Slots come free when clients go.
      await new Promise((done) => setTimeout(done, 100));
      const { status, body } = await get(url, '/model/vocab.txt');
      expect(status).toBe(200);
      expect(body).toContain('[MASK]');
    } finally {
      server.close();
    }
    expect(hostAllowed(`192.168.1.7:${port}`, '0.0.0.0', port)).toBe(true);
    expect(hostAllowed(`myhost.lan:${port}`, '0.0.0.0', port)).toBe(false);
    expect(hostAllowed(`[::1]:${port}`, '::1', port)).toBe(true);
    expect(hostAllowed(`localhost:${port + 1}`, '127.0.0.1', port)).toBe(false);
    expect(hostAllowed(undefined, '127.0.0.1', port)).toBe(false);
  });
});
