// `tcc serve` serves its page, the runtime's JavaScript and the model
// directory's files, and nothing else: no path out of them (dot segments,
// plain or percent-encoded, or a symlink pointing out), no method but GET and
// HEAD, no malformed path; it listens on 127.0.0.1 unless told otherwise.

import { request } from 'node:http';
import { mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { serveOptions, startServer } from '../../cli/serve.js';
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
    const wgsl = readdirSync(join(dir, 'wgsl'))[0]!;
    symlinkSync('/etc/hostname', join(dir, 'wgsl', 'out.wgsl'));

    const options = serveOptions(dir, { port: '0' });
    expect(options.host).toBe('127.0.0.1');
    const { server, url } = await startServer(options);
    try {
      expect((await get(url, '/')).status).toBe(200);
      expect((await get(url, `/model/wgsl/${wgsl}`)).status).toBe(200);
      expect((await get(url, '/dist/web/app.js')).status).toBe(200);
      for (const path of [
        '/model/wgsl/../../../../etc/passwd',
        '/model/wgsl/..%2f..%2f..%2f..%2fetc%2fpasswd',
        '/model/wgsl/%2e%2e/%2e%2e/%2e%2e/etc/passwd.wgsl',
        '/dist/..%2f..%2fpackage.json',
        '/dist/%2e%2e%2fpackage.json.js',
        '//etc/passwd',
        '/model/wgsl/out.wgsl',
        '/model/wgsl/',
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
});
