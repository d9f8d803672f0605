// Bad input never shows a stack trace: each error prints
// `file:line:col: error: message` at the offending YAML node, every error
// found is reported, and the exit code is 2.

import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { modelsDir, specFiles, tcc } from '../helpers/cli.js';

const base = `extends: ${modelsDir()}/bert-base.yaml\n`;

/** Compiles one spec file; returns its path and the error lines printed. */
async function compileBad(text: string, extra: Record<string, string> = {}) {
  const files = specFiles({ 'spec.yaml': text, ...extra });
  const file = files['spec.yaml']!;
  const result = (await tcc('compile', file));
  expect(result.code).toBe(2);
  expect(result.stdout).toBe('');
  expect(result.stderr).not.toMatch(/^\s+at /m); // no stack trace
  const errors = result.stderr.split('\n').filter((l) => l.includes(': error: '));
  return { file, errors, stderr: result.stderr };
}

describe('compile errors', () => {
  it('reports malformed YAML at its position', async () => {
    const { file, errors } = await compileBad(`${base}config: {hidden_size: 64\nmodel: {}\n`);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(`^${file}:\\d+:\\d+: error: `));
  });

  it('reports several schema violations at once, each at its value', async () => {
    const { file, errors, stderr } = await compileBad(`${base}config:\n  hidden_size: big\n  layer_norm_eps: -1\n  hidden_act: gelu2\n`);
    expect(errors).toEqual([
      `${file}:3:16: error: config.hidden_size must be integer, got string "big"`,
      `${file}:4:19: error: config.layer_norm_eps must be > 0, got number -1`,
      `${file}:5:15: error: config.hidden_act must be one of gelu, gelu_tanh, relu, got string "gelu2"; did you mean 'gelu'?`,
    ]);
    expect(stderr).toContain('  hidden_size: big\n   |                ^^^');
    expect(stderr).toMatch(/3 errors\n$/);
  });

  it('reports an unknown field at its key, with a suggestion', async () => {
    const { file, errors } = await compileBad(`${base}modle: {}\nconfig: {hidden_size: 64, num_attention_heads: 2}\n`);
    expect(errors).toEqual([`${file}:2:1: error: unknown field 'modle' in the spec; did you mean 'model'?`]);
  });

  it('reports an unknown op, an unknown attribute and an unknown value in one run', async () => {
    const { file, errors, stderr } = await compileBad(`${base}blocks:
  pooler:
    inputs: [x]
    body:
      first: {op: select, in: x, axis: 1, index: 0}
      d: {op: lienar, in: first, name: dense, out: hidden_size}
      n: {op: layer_norm, in: first, name: LN, epsilon: 1e-5}
      m: {op: add, in: [first, x2]}
    outputs: [first]
`);
    expect(errors).toEqual([
      `${file}:7:15: error: unknown op 'lienar'; did you mean 'linear'?`,
      `${file}:8:48: error: unknown attribute 'epsilon' for op 'layer_norm'`,
      `${file}:9:32: error: unknown value 'x2'; did you mean 'x'?`,
    ]);
    expect(stderr).toContain("note: in block 'pooler' instantiated here");
  });

  it('reports a shape mismatch naming the op and both shapes', async () => {
    const { file, errors } = await compileBad(`${base}blocks:
  pooler:
    inputs: [x]
    body:
      up: {op: linear, in: x, name: dense, out: intermediate_size}
      bad: {op: add, in: [up, x]}
    outputs: [bad]
`);
    expect(errors).toEqual([`${file}:7:12: error: shape error in 'bad': add: shapes f32[1,128,3072] and f32[1,128,768] do not broadcast`]);
  });

  it('reports hidden_size not divisible by the heads at the user\'s value', async () => {
    const { file, errors } = await compileBad(`${base}config:\n  hidden_size: 100\n`);
    expect(errors).toEqual([`${file}:3:16: error: hidden_size (100) must be divisible by num_attention_heads (12)`]);
    // Preconditions add up through extends: RoBERTa's own (positions past the padding) keeps BERT's, and ModernBERT's its own.
    const roberta = await compileBad(`extends: ${modelsDir()}/roberta.yaml\nconfig:\n  hidden_size: 100\n`);
    expect(roberta.errors).toEqual([`${roberta.file}:3:16: error: hidden_size (100) must be divisible by num_attention_heads (12)`]);
    const modernbert = await compileBad(`extends: ${modelsDir()}/modernbert.yaml\nconfig:\n  global_attn_every_n_layers: 0\n`);
    expect(modernbert.errors).toEqual([`${modernbert.file}:3:31: error: global_attn_every_n_layers must be at least 1 (every N-th layer from the first attends globally), got 0`]);
  });

  it('reports a cycle between steps', async () => {
    const { file, errors } = await compileBad(`${base}blocks:
  pooler:
    inputs: [x]
    body:
      a: {op: add, in: [b, x]}
      b: {op: tanh, in: a}
    outputs: [b]
`);
    expect(errors).toEqual([`${file}:6:10: error: cycle: a → b → a`]);
  });

  it('reports a block that instantiates itself', async () => {
    const { file, errors } = await compileBad(`${base}blocks:
  pooler:
    inputs: [x]
    body:
      inner: {op: wrapper, in: x}
    outputs: [inner]
  wrapper:
    inputs: [x]
    body:
      again: {op: pooler, in: x}
    outputs: [again]
`);
    expect(errors).toEqual([`${file}:11:19: error: block 'pooler' instantiates itself: pooler → wrapper → pooler`]);
  });

  it('reports a missing extends file and an extends cycle at the extends value', async () => {
    const missing = await compileBad('extends: nope.yaml\n');
    expect(missing.errors).toEqual([`${missing.file}:1:10: error: cannot read '${missing.file.replace(/spec\.yaml$/, 'nope.yaml')}': no such file`]);
    const cycle = await compileBad('extends: other.yaml\n', { 'other.yaml': 'extends: spec.yaml\n' });
    expect(cycle.errors).toHaveLength(1);
    expect(cycle.errors[0]).toMatch(/other\.yaml:1:10: error: extends cycle: spec\.yaml → other\.yaml → spec\.yaml$/);
  });

  it('reports a wrong operand count and a missing attribute', async () => {
    const { file, errors } = await compileBad(`${base}blocks:
  pooler:
    inputs: [x]
    body:
      a: {op: tanh, in: [x, x]}
      b: {op: select, in: x, axis: 1}
    outputs: [b]
`);
    expect(errors).toEqual([
      `${file}:6:10: error: op 'tanh' takes 1 operand, got 2`,
      `${file}:7:10: error: op 'select' needs the attribute 'index'`,
    ]);
  });

  it('compiles training graphs, and refuses one without losses', async () => {
    const result = (await tcc('compile', 'models/bert-tiny.yaml', '--mode', 'train', '--seq', '16', '--json'));
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { mode: string; parameters: number; outputs: { name: string }[] };
    expect(report).toMatchObject({ mode: 'train', parameters: 4433468 });
    const names = report.outputs.map((o) => o.name);
    expect(names).toEqual(expect.arrayContaining(['loss', 'mlm_loss', 'nsp_loss', 'mlm_acc', 'nsp_acc', 'grad_norm', 'update:bert.embeddings.word_embeddings.weight', 'update:adam.m:cls.predictions.bias']));
    expect(names.filter((n) => n.startsWith('update:'))).toHaveLength(3 * 46);
    const encoder = (await tcc('compile', 'models/bert-base-encoder.yaml', '--mode', 'train'));
    expect(encoder.code).toBe(2);
    expect(encoder.stderr).toMatch(/error: spec 'bert-base-encoder' has no training losses/);
  });

  it('rejects bad flags in one line', async () => {
    expect((await tcc('compile', 'models/bert-tiny.yaml', '--batch', '0'))).toMatchObject({ code: 2, stderr: "tcc: error: --batch must be a positive integer, got '0'\n" });
    expect((await tcc('compile', 'models/bert-tiny.yaml', '--bogus')).stderr).toBe('tcc: error: unknown flag --bogus\n');
    expect((await tcc('frobnicate')).stderr).toBe("tcc: error: unknown command 'frobnicate'; run 'tcc --help' for the list\n");
  });

  it('gives a one-screen overview, and each command\'s usage with tcc help COMMAND', async () => {
    const overview = await tcc('--help');
    expect(overview.code).toBe(0);
    expect(overview.stdout.trim().split('\n').length).toBeLessThanOrEqual(30);
    for (const command of ['compile', 'run', 'pretrain', 'finetune', 'export', 'serve', 'doctor']) expect(overview.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    expect((await tcc('help', 'run')).stdout).toMatch(/^usage: tcc run --model MODEL/);
    expect((await tcc('help', 'rnu')).stderr).toBe("tcc: error: no command 'rnu': did you mean 'run'?\n");
  });

  it('suggests the command, flag, config key or file meant', async () => {
    expect((await tcc('compiel', 'models/bert-tiny.yaml')).stderr).toBe("tcc: error: unknown command 'compiel': did you mean 'compile'?\n");
    expect((await tcc('compile', 'models/bert-tiny.yaml', '--sqe', '16')).stderr).toBe('tcc: error: unknown flag --sqe; did you mean --seq?\n');
    expect((await tcc('run', '--modle', 'models/bert-tiny.yaml')).stderr).toBe('tcc: error: unknown flag --modle; did you mean --model?\n');
    expect((await tcc('compile', 'models/bert-tiny.yaml', '--seq')).stderr).toBe('tcc: error: --seq needs a value\n');
    expect((await tcc('compile', 'models/bert-tiny.yaml', '--json=yes')).stderr).toBe('tcc: error: --json takes no value\n');
    expect((await tcc('compile', 'models/bert-tiy.yaml')).stderr).toMatch(/^error: cannot read 'models\/bert-tiy\.yaml': no such file; did you mean 'models\/bert-tiny\.yaml'\?$/m);
    // A typo inside config: would otherwise compile the unchanged model.
    const { file, errors } = await compileBad(`extends: ${modelsDir()}/bert-tiny.yaml\nconfig:\n  hiden_size: 256\n`);
    expect(errors).toEqual([`${file}:3:15: error: config key 'hiden_size' is not used by this model; did you mean 'hidden_size'?`]);
  });

  it.each(['--recompute', '--max-predictions'])('refuses %s on an inference graph in one line', async (flag) => {
    const result = await tcc('compile', 'models/bert-tiny.yaml', flag, flag === '--recompute' ? 'layer' : '20');
    expect(result).toMatchObject({ code: 2 });
    expect(result.stderr).toContain(`${flag} applies to training graphs: add --mode train`);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('reports a missing spec file without a location', async () => {
    expect((await tcc('compile', 'no/such.yaml'))).toMatchObject({ code: 2, stderr: "error: cannot read 'no/such.yaml': no such file\n1 error\n" });
  });
});

describe('the tcc binary', () => {
  const bin = 'dist/cli/tcc.js';

  it('exits 2 with diagnostics and no stack trace, and shows one with --debug', async () => {
    const files = specFiles({ 'spec.yaml': `${base}config:\n  hidden_size: 100\n` });
    const plain = spawnSync(process.execPath, [bin, 'compile', files['spec.yaml']!], { encoding: 'utf8' });
    expect(plain.status).toBe(2);
    expect(plain.stderr).toMatch(/^.*spec\.yaml:3:16: error: hidden_size \(100\)/);
    expect(plain.stderr).not.toMatch(/^\s+at /m);
    const debug = spawnSync(process.execPath, [bin, 'compile', files['spec.yaml']!, '--debug'], { encoding: 'utf8' });
    expect(debug.status).toBe(2);
    expect(debug.stderr).toMatch(/^\s+at /m);
  });

  it('prints one JSON object with the figures a user scripts against', async () => {
    const out = execFileSync(process.execPath, [bin, 'compile', 'models/bert-base.yaml', '--json', '--seq', '64', '--batch', '2'], { encoding: 'utf8' });
    const report = JSON.parse(out) as Record<string, unknown>;
    expect(report).toMatchObject({ model: 'bert-base', mode: 'infer', batch: 2, seq: 64, parameters: 110106428 });
    for (const key of ['ops', 'flops', 'compile_ms']) expect(typeof report[key]).toBe('number');
  });
});
