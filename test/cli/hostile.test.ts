// Hostile and absurd inputs that a probe of mutated specs, configs and
// checkpoints found ending in a stack overflow, a hang, a native abort, a
// message from inside a library or an echo of a file's content. Each must end
// in exit 2 with one located line, within a second or two.

import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { modelsDir, tcc } from '../helpers/cli.js';
import { hasWebGpu } from '../helpers/webgpu.js';

const gpu = await hasWebGpu();

const HF_CONFIG = { architectures: ['BertModel'], hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64, vocab_size: 50, max_position_embeddings: 512 };

function workspace(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tcc-hostile-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** Runs tcc and checks the promise: exit 2, one error line (plus the source excerpt) with a location, no stack trace, quickly. */
async function refused(args: string[], message: RegExp, where?: RegExp): Promise<string> {
  const start = performance.now();
  const { code, stderr } = await tcc(...args);
  const seconds = (performance.now() - start) / 1000;
  expect(stderr, stderr).toMatch(message);
  expect(code, stderr).toBe(2);
  expect(stderr).not.toMatch(/^\s+at /m);
  expect(stderr).not.toMatch(/Maximum call stack|Tag not resolved|Cannot read properties|Array buffer allocation/);
  const first = stderr.split('\n').find((l) => /error:/.test(l))!;
  if (where) expect(first).toMatch(where);
  // A second or two here; the bound leaves room for a loaded machine (a hang would take far longer).
  expect(seconds).toBeLessThan(10);
  return stderr;
}

const tinyYaml = (extra: string) => `extends: ${modelsDir()}/bert-tiny.yaml\n${extra}`;

describe('hostile input: one located line and exit 2', () => {
  it('refuses YAML aliases: a cyclic one and "billion laughs"', async () => {
    const cyclic = workspace({ 'm.yaml': tinyYaml('config: &c {hidden_size: 128, more: *c}\n') });
    await refused(['compile', join(cyclic, 'm.yaml')], /aliases \(\*c\) are not supported/, /m\.yaml:2:\d+: error/);
    // Nine levels of nine aliases each: a billion strings if expanded.
    const laughs = ['  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]', ...'bcdefghi'.split('').map((x, i) => `  ${x}: &${x} [${new Array(9).fill(`*${'abcdefghi'[i]}`).join(', ')}]`)];
    const bomb = workspace({ 'm.yaml': tinyYaml(`config:\n${laughs.join('\n')}\n`) });
    await refused(['compile', join(bomb, 'm.yaml')], /aliases \(\*a\) are not supported/);
  });

  it('refuses nesting past 64 levels in the DSL, in expressions and in YAML, at the place it happens', async () => {
    for (const depth of [1_000, 100_000]) {
      const dsl = workspace({ 'm.tcc': `model m extends "${modelsDir()}/bert-tiny.tcc" {\n  config {\n    layer_norm_eps = ${'('.repeat(depth)}1e-12${')'.repeat(depth)}\n  }\n}\n` });
      await refused(['compile', join(dsl, 'm.tcc')], /nested more than 64 deep/, /m\.tcc:3:\d+: error/);
      const yaml = workspace({ 'm.yaml': tinyYaml(`config: {deep: ${'['.repeat(depth)}${']'.repeat(depth)}}\n`) });
      await refused(['compile', join(yaml, 'm.yaml')], /nested more than 64 deep/, /m\.yaml:2:\d+: error/);
    }
    const expr = workspace({ 'm.yaml': tinyYaml(`model:\n  body:\n    z: {op: affine, in: embedded, scale: "${'('.repeat(5000)}1${')'.repeat(5000)}"}\n`) });
    await refused(['compile', join(expr, 'm.yaml')], /expression nested more than 64 deep/, /m\.yaml:4:\d+: error/);
  });

  it('refuses endless and non-spec files: extends /dev/zero, a spec or a checkpoint that is a symlink to it, /proc/self/environ (never echoed)', async () => {
    const dir = workspace({ 'a.yaml': tinyYaml('').replace(/^extends:.*$/m, 'extends: /dev/zero') });
    await refused(['compile', join(dir, 'a.yaml')], /'\/dev\/zero' is not a spec file/, /a\.yaml:1:\d+: error/);
    symlinkSync('/dev/zero', join(dir, 'zero.yaml'));
    writeFileSync(join(dir, 'b.yaml'), 'extends: zero.yaml\n');
    await refused(['compile', join(dir, 'b.yaml')], /cannot read '.*zero\.yaml': not a regular file/, /b\.yaml:1:\d+: error/);
    writeFileSync(join(dir, 'c.yaml'), 'extends: /proc/self/environ\n');
    const stderr = await refused(['compile', join(dir, 'c.yaml')], /is not a spec file/);
    expect(stderr).not.toMatch(/PATH=|HOME=/);
    // A HuggingFace directory whose weights lead to /dev/zero.
    const hf = workspace({ 'hf/config.json': JSON.stringify(HF_CONFIG), 'in.json': '{"input_ids": [[1, 2, 3]]}' });
    symlinkSync('/dev/zero', join(hf, 'hf', 'model.safetensors'));
    await refused(['run', '--model', join(hf, 'hf'), '--inputs', join(hf, 'in.json'), '--out', join(hf, 'o.safetensors')], /model\.safetensors': not a regular file/);
  });

  it('treats JavaScript property names as the unknown names they are', async () => {
    for (const act of ['constructor', 'toString', '__proto__']) {
      const hf = workspace({ 'hf/config.json': JSON.stringify({ ...HF_CONFIG, hidden_act: act }) });
      await refused(['compile', join(hf, 'hf')], new RegExp(`hidden_act '${act}' is not supported`), /config\.json:1:\d+: error/);
    }
    const op = workspace({ 'm.yaml': tinyYaml('model:\n  body:\n    q: {op: toString, in: [embedded]}\n') });
    await refused(['compile', join(op, 'm.yaml')], /unknown op 'toString'/, /m\.yaml:4:\d+: error/);
    const block = workspace({ 'm.yaml': tinyYaml('model:\n  body:\n    q: {op: constructor, in: [embedded]}\n') });
    await refused(['compile', join(block, 'm.yaml')], /unknown op 'constructor'/);
    const attr = workspace({ 'm.yaml': tinyYaml('model:\n  body:\n    q: {op: tanh, in: [embedded], __proto__: 3}\n') });
    await refused(['compile', join(attr, 'm.yaml')], /unknown attribute '__proto__' for op 'tanh'/, /m\.yaml:4:\d+: error/);
    const name = workspace({ 'm.yaml': tinyYaml('model:\n  body:\n    q: {op: affine, in: [embedded], scale: constructor}\n') });
    await refused(['compile', join(name, 'm.yaml')], /unknown name 'constructor'/);
  });

  it('refuses absurd sizes at their line, in a spec and in config.json', async () => {
    const hf = (extra: object) => join(workspace({ 'hf/config.json': JSON.stringify({ ...HF_CONFIG, ...extra }) }), 'hf');
    await refused(['compile', hf({ vocab_size: 1e9 })], /vocab_size must be an integer from 1 to 1,000,000, got 1000000000/, /config\.json:1:\d+: error/);
    await refused(['compile', hf({ hidden_size: 1e12 })], /hidden_size must be an integer from 1 to 16,384/);
    await refused(['compile', hf({ num_hidden_layers: 1e9 })], /num_hidden_layers must be an integer from 0 to 1,000/);
    await refused(['compile', hf({ architectures: ['BertForSequenceClassification'], num_labels: 200_000 })], /num_labels must be an integer from 1 to 65,536/);
    const spec = workspace({ 'm.yaml': tinyYaml('config: {num_hidden_layers: 1000000000}\n') });
    await refused(['compile', join(spec, 'm.yaml')], /num_hidden_layers must be <= 1000/, /m\.yaml:2:\d+: error/);
    const dsl = workspace({ 'm.tcc': `model m extends "${modelsDir()}/bert-tiny.tcc" {\n  config {\n    vocab_size = 1000000000\n  }\n}\n` });
    await refused(['compile', join(dsl, 'm.tcc')], /vocab_size must be <= 1000000/, /m\.tcc:3:\d+: error/);
  });

  it('reads a config.json of 200,000 labels in linear time and names its one problem in a short line', async () => {
    const labels = Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [String(i), `l${i}`]));
    const dir = workspace({ 'hf/config.json': JSON.stringify({ ...HF_CONFIG, architectures: ['BertForSequenceClassification'], id2label: labels }), 'in.json': '{"input_ids": [[1, 2, 3]]}' });
    // The YAML parser's duplicate-key check took 75 s for 40,000 keys; 4 MB of config.json is read in well under a second.
    for (const argv of [['import-hf', join(dir, 'hf')], ['run', '--model', join(dir, 'hf'), '--inputs', join(dir, 'in.json')]]) {
      const stderr = await refused(argv, /config\.json:1:\d+: error: id2label must be an object of at most 65,536 labels/);
      expect(stderr.length).toBeLessThan(1000);
    }
  });

  it('checks output paths before any work: a file where a directory goes, a directory where a file goes, a missing directory', async () => {
    const dir = workspace({ 'afile': 'not a directory\n', 'in.json': '{"input_ids": [[1, 2, 3]]}', 'corpus.txt': 'a b c .\nd e f .\n' });
    mkdirSync(join(dir, 'adir'));
    const tiny = join(modelsDir(), 'bert-tiny.yaml');
    await refused(['pretrain', tiny, '--corpus', join(dir, 'corpus.txt'), '--vocab', join(dir, 'corpus.txt'), '-o', join(dir, 'afile')], /-o .*afile is a file; it names a directory to write into/);
    await refused(['finetune', tiny, '--task', 'classification', '--train', join(dir, 'in.json'), '--eval', join(dir, 'in.json'), '-o', join(dir, 'afile')], /-o .*afile is a file/);
    await refused(['run', '--model', tiny, '--inputs', join(dir, 'in.json'), '--out', join(dir, 'adir')], /--out .*adir is a directory; it names a file to write/);
    await refused(['export', tiny, '--format', 'onnx', '-o', join(dir, 'adir')], /-o .*adir is a directory/);
    await refused(['export', tiny, '--format', 'torch', '-o', join(dir, 'afile')], /-o .*afile is a file; --format torch writes a directory/);
    await refused(['compile', tiny, '--emit', 'html', '-o', join(dir, 'missing', 'g.html')], /no directory .*missing to write it in/);
  });
});

describe('what the fuzz suites found: one located line and exit 2', () => {
  const small = () => workspace({
    'm.yaml': `extends: ${modelsDir()}/bert.yaml\nconfig: {vocab_size: 40, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 16}\n`,
    'vocab.txt': ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...Array.from({ length: 35 }, (_, i) => `w${i}`)].join('\n') + '\n',
    'in.json': '{"input_ids": [[2, 5, 6, 3]]}',
  });

  it('names the inputs file, and the line of prepared data, of an id outside the vocabulary', async () => {
    const dir = small();
    const run = (ids: string) => {
      writeFileSync(join(dir, 'bad.json'), `{"input_ids": [${ids}]}`);
      return ['run', '--model', join(dir, 'm.yaml'), '--inputs', join(dir, 'bad.json'), '--out', join(dir, 'o.safetensors'), '--backend', 'js'];
    };
    await refused(run('[2, 40, 3]'), /bad\.json: input_ids\[0\]\[1\] = 40 is out of range \[0, 40\)/);
    await refused(run('[2, 1e12, 3]'), /bad\.json: input_ids must be a non-empty list of 32-bit integers, or a \[batch\]\[seq\] list of them/);
    const example = { input_ids: [2, 5, 4, 3], token_type_ids: [0, 0, 0, 0], attention_mask: [1, 1, 1, 1], labels: [-100, -100, 6, -100], next_sentence_label: 0 };
    writeFileSync(join(dir, 'data.jsonl'), [example, { ...example, labels: [-100, 99, -100, -100] }].map((e) => JSON.stringify(e)).join('\n') + '\n');
    await refused(['pretrain', join(dir, 'm.yaml'), '--data', join(dir, 'data.jsonl'), '--vocab', join(dir, 'vocab.txt'), '--seq', '4', '--batch', '1', '--steps', '1', '--backend', 'js', '-o', join(dir, 'out')],
      /data\.jsonl:2: labels\[1\] = 99 is out of range \[0, 40\) and is not -100/);
    writeFileSync(join(dir, 'null.jsonl'), 'null\n');
    await refused(['pretrain', join(dir, 'm.yaml'), '--data', join(dir, 'null.jsonl'), '--seq', '4', '-o', join(dir, 'out')], /null\.jsonl:1: not a JSON object/);
  });

  it('refuses SQuAD records of the wrong type at their path', async () => {
    const dir = small();
    for (const [data, where] of [['[null]', /data\[0\] must be an object/], ['[{"paragraphs": 3}]', /data\[0\]: "paragraphs" must be a list/], ['[{"paragraphs": [{"context": "a b", "qas": [{"question": "q", "answers": [{"text": "b", "answer_start": 2.5}]}]}]}]', /qas\[0\]: needs "question" and "answers"/]] as const) {
      writeFileSync(join(dir, 'squad.json'), `{"data": ${data}}`);
      await refused(['finetune', join(dir, 'm.yaml'), '--vocab', join(dir, 'vocab.txt'), '--task', 'qa', '--train', join(dir, 'squad.json'), '--eval', join(dir, 'squad.json'), '-o', join(dir, 'out')], where, /squad\.json/);
    }
  });

  it('shows an error of the spec imported from config.json at config.json\'s line', async () => {
    const hf = join(workspace({ 'hf/config.json': JSON.stringify({ ...HF_CONFIG, num_attention_heads: 3 }, null, 2) }), 'hf');
    await refused(['compile', hf], /hidden_size \(32\) must be divisible by num_attention_heads \(3\)/, /hf\/config\.json:\d+:\d+: error/);
    const typed = join(workspace({ 'hf/config.json': JSON.stringify({ ...HF_CONFIG, layer_norm_eps: 'small' }, null, 2) }), 'hf');
    const stderr = await refused(['compile', typed], /layer_norm_eps must be number/, /hf\/config\.json:\d+:\d+: error/);
    expect(stderr).toMatch(/\| +"layer_norm_eps": "small"/);
  });

  it('refuses a program larger than the memory available, with the figure, before allocating', async () => {
    const dir = small();
    writeFileSync(join(dir, 'corpus.txt'), 'w1 w2 w3 .\nw4 w5 w6 .\n\nw7 w8 w9 .\nw1 w3 w5 .\n');
    const start = performance.now();
    const { code, stderr } = await tcc('pretrain', join(modelsDir(), 'bert-base.yaml'), '--corpus', join(dir, 'corpus.txt'), '--vocab', join(dir, 'vocab.txt'), '--batch', '65536', '--seq', '128', '--steps', '1', '-o', join(dir, 'out'));
    expect(code, stderr).toBe(2);
    expect(stderr).toMatch(/^tcc: error: the bert-base program needs [\d.]+ GiB \(parameters 0\.41 GiB, optimizer state 0\.82 GiB, activations [\d.]+ GiB\) and this machine has [\d.]+ GiB available; use a smaller --batch or --seq, or --recompute layer\n$/);
    expect(performance.now() - start).toBeLessThan(15_000);
  });

  it.runIf(gpu)('refuses it on a software WebGPU adapter too, whose memory is the machine\'s', async () => {
    const big = workspace({ 'in.json': JSON.stringify({ input_ids: Array.from({ length: 4096 }, () => Array.from({ length: 512 }, () => 5)) }) });
    const start = performance.now();
    const refused = await tcc('run', '--model', join(modelsDir(), 'bert-base.yaml'), '--inputs', join(big, 'in.json'), '--out', join(big, 'o.safetensors'), '--backend', 'webgpu');
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toMatch(/^tcc: error: the bert-base program needs [\d.]+ GiB \(parameters 0\.41 GiB, activations [\d.]+ GiB\) and this machine has [\d.]+ GiB available; use a smaller --batch or --seq\n$/);
    expect(performance.now() - start).toBeLessThan(30_000);
  });
});
