// `tcc export MODEL --format onnx|torch|hf -o OUT`: a model for the engines
// users scale on. MODEL is a spec, a HuggingFace directory or a tcc
// checkpoint; its weights are --weights, the directory's model.safetensors,
// or BERT's initialization from --seed.

import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { compileFile, isModelDirectory } from '../compiler/compile.js';
import { exportOnnx, ONNX_INLINE_LIMIT } from '../compiler/export/onnx.js';
import { exportTorch, TorchExportError } from '../compiler/export/torch.js';
import { sourceName, type Graph, type Node } from '../compiler/ir/graph.js';
import { importHfConfig } from '../compiler/parser/hf-config.js';
import { writeCheckpoint } from '../runtime/checkpoint.js';
import { hfConfigOf } from '../compiler/export/hf-config.js';
import type { ParamInit } from '../runtime/init.js';
import { readSafetensors } from '../runtime/safetensors.js';
import { matchWeights } from '../runtime/weights.js';
import { oneOf, parse, seedFlag } from './args.js';
import { UsageError, type Io } from './errors.js';
import { outputFile, packageVersion, readInputFile, writeAtomic } from './files.js';
import { localModel, localTokenizerFlag, localVocabFlag } from './hub.js';
import { hfTokenizerFiles, loadTokenizer } from './tokenizer.js';
import { initWithProgress } from './progress.js';

export const exportUsage = `usage: tcc export MODEL --format onnx|torch|hf -o OUT [--weights FILE] [--seed N] [--vocab FILE | --tokenizer FILE] [--lowercase true|false] [--external-data]

Writes MODEL (a spec, a HuggingFace directory or a tcc checkpoint) for another engine:
  onnx    OUT.onnx: the inference graph with its heads, opset 17, the batch and
          sequence axes dynamic, inputs and outputs named as tcc run names them;
          the weights go to OUT.onnx.data beside it past 2 GB (or with --external-data)
  torch   OUT/: model.py (one nn.Module per block of the spec, HuggingFace
          parameter names, from_pretrained), train.py (the spec's losses with
          AdamW and warmup, alone or under torchrun), config.json, model.safetensors
  hf      OUT/: config.json (the model's family: BERT, RoBERTa, ELECTRA, …),
          model.safetensors, the tokenizer (vocab.txt, or the model's tokenizer.json),
          tokenizer_config.json, special_tokens_map.json
  --weights FILE   safetensors with HuggingFace names (default: MODEL's
                   model.safetensors; without any, BERT's initialization from --seed)
  --vocab FILE, --tokenizer FILE   the tokenizer for hf (default: MODEL's tokenizer.json, else its vocab.txt)`;

const FORMATS = ['onnx', 'torch', 'hf'] as const;

/** The parameters of a graph: name, shape and BERT's initializer. */
function paramsOf(graph: Graph): ParamInit[] {
  return graph.nodes.filter((n): n is Node<'param'> => n.op === 'param').map((n) => ({ name: sourceName(n)!, shape: n.type.shape, init: n.attrs.init, std: n.attrs.std }));
}

/** The weights to export and a note on where they came from. */
function weightsFor(model: string, graph: Graph, flags: { weights?: string; seed?: string }, io: Io): { values: Record<string, Float32Array>; note: string } {
  const params = paramsOf(graph);
  const file = flags.weights ?? (isModelDirectory(model) && existsSync(join(model, 'model.safetensors')) ? join(model, 'model.safetensors') : undefined);
  if (!file) {
    const seed = seedFlag(flags.seed);
    return { values: initWithProgress(io, params, seed), note: `BERT's initialization (seed ${seed})` };
  }
  const matched = matchWeights(params, readSafetensors(readInputFile(file), file).tensors, file);
  if (matched.missing.length) throw new UsageError(`${file} lacks ${matched.missing.length} of the model's parameters, e.g. '${matched.missing[0]}'`);
  return { values: matched.values, note: file };
}

const tensors = (graph: Graph, values: Record<string, Float32Array>) =>
  Object.fromEntries(paramsOf(graph).map((p) => [p.name, { dtype: 'F32' as const, shape: p.shape, data: values[p.name]! }]));

/**
 * Whether HuggingFace's class would load the directory: tcc's importer reads
 * its config.json, and every parameter that builds is in the export with its
 * shape. Returns why not, or the tensors it would leave unused.
 */
function hfLoad(dir: string, graph: Graph): { refused: string } | { unused: string[] } {
  let imported: Graph;
  try {
    const yaml = importHfConfig(dir).yaml;
    imported = compileFile(join(dir, 'config.json'), { batch: graph.dims['batch'], seq: graph.dims['seq'], text: yaml }).graph;
  } catch (e) {
    return { refused: `its config.json is not one of a HuggingFace class (${(e as Error).message.split('\n')[0]})` };
  }
  const shapes = (g: Graph) => new Map(paramsOf(g).map((p) => [p.name, p.shape.join(',')]));
  const [have, needed] = [shapes(graph), shapes(imported)];
  const lacking = [...needed].find(([name, shape]) => have.get(name) !== shape);
  if (lacking) return { refused: `its parameters are not its class's (e.g. '${lacking[0]}')` };
  return { unused: [...have.keys()].filter((name) => !needed.has(name)) };
}

export async function runExport(argv: string[], debug: boolean, io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    format: { type: 'string' }, out: { type: 'string', short: 'o' }, weights: { type: 'string' }, seed: { type: 'string' },
    vocab: { type: 'string' }, tokenizer: { type: 'string' }, lowercase: { type: 'string' }, 'external-data': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout.write(exportUsage + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`export takes one model, got ${positionals.length}\n${exportUsage}`);
  if (!values.format) throw new UsageError(`export needs --format (${FORMATS.join(', ')})`);
  if (!values.out) throw new UsageError('export needs -o OUT');
  const format = oneOf(values.format, '--format', FORMATS, 'onnx');
  const model = await localModel(positionals[0]!, io);
  values.vocab = await localVocabFlag(values.vocab, io);
  values.tokenizer = await localTokenizerFlag(values.tokenizer, io);
  const out = format === 'onnx' ? outputFile(values.out, '-o') : values.out;
  if (format !== 'onnx' && existsSync(out) && !statSync(out).isDirectory()) throw new UsageError(`-o ${out} is a file; --format ${format} writes a directory`);
  const compiled = compileFile(model, { batch: 1, seq: 8, verify: debug, fuse: false });
  const { graph, spec } = compiled;
  const weights = weightsFor(model, graph, values, io);
  const config = Object.fromEntries(Object.entries(spec.config).map(([k, v]) => [k, v.value]));

  if (format === 'onnx') {
    const bytes = Object.values(weights.values).reduce((n, v) => n + 4 * v.length, 0);
    const external = values['external-data'] || bytes > ONNX_INLINE_LIMIT ? `${basename(out)}.data` : undefined;
    const onnx = exportOnnx(graph, weights.values, { dynamic: (dims) => compileFile(model, { ...dims, fuse: false }).graph, ...(external ? { externalData: external } : {}) });
    if (onnx.data) writeAtomic(join(dirname(out), external!), onnx.data);
    writeAtomic(out, onnx.model);
    const size = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
    io.stderr.write(`wrote ${out}: ${spec.name} for onnxruntime (opset 17, batch and seq dynamic; ${size(onnx.model.length)}${onnx.data ? `, weights in ${external} beside it, ${size(onnx.data.length)}` : ''}), weights ${weights.note}\n`);
    return 0;
  }
  if (format === 'torch') {
    let files;
    try {
      files = exportTorch(spec, model, packageVersion());
    } catch (e) {
      if (e instanceof TorchExportError) throw new UsageError(`${model}: cannot export to PyTorch: ${e.message}`);
      throw e;
    }
    writeCheckpoint(out, { config: hfConfigOf(spec, graph), params: tensors(graph, weights.values), files: { ...files } });
    io.stderr.write(`wrote ${out}: model.py, train.py, config.json, model.safetensors (weights ${weights.note})\n`);
    io.stderr.write(`  python: from model import MODEL; MODEL.from_pretrained('${out}')   train: torchrun --nproc_per_node N --redirects 1 --tee 1 ${join(out, 'train.py')} DATA.jsonl --init ${out} -o trained\n`);
    return 0;
  }
  const tokenizer = loadTokenizer({ vocab: values.vocab, tokenizer: values.tokenizer, model, lowercase: values.lowercase });
  const configFile = hfConfigOf(spec, graph);
  const files = hfTokenizerFiles(tokenizer, Number(config.max_position_embeddings ?? 512));
  writeCheckpoint(out, { config: configFile, params: tensors(graph, weights.values), files });
  const load = hfLoad(out, graph);
  io.stderr.write(`wrote ${out}: config.json, model.safetensors, ${Object.keys(files).join(', ')} (weights ${weights.note})\n`);
  if ('refused' in load) io.stderr.write(`  no HuggingFace class loads it: ${load.refused}; tcc runs it with --model ${model} --weights ${join(out, 'model.safetensors')}\n`);
  else {
    const unused = load.unused.length ? ` (it has no use for ${load.unused.length} of the tensors, e.g. '${load.unused[0]}')` : '';
    io.stderr.write(`  HuggingFace's ${(configFile.architectures as string[])[0]} loads it${unused}, and so does tcc (--model ${out})\n`);
  }
  return 0;
}
