// The `tcc` command: parses the subcommand and hands off. The binary is
// tcc.ts; tests call `main` with buffers for output.

import { reportError, UsageError, type Io } from './errors.js';
import { packageVersion } from './files.js';
import { loadDsl } from '../compiler/dsl/runtime.js';
import { didYouMean } from '../compiler/parser/diagnostics.js';

type Command = (argv: string[], debug: boolean, io: Io) => number | Promise<number>;

/** A command's module, loaded when the command runs: a command pays for its own imports only. */
interface CommandModule {
  readonly run: Command;
  readonly usage: string;
}

/** Every command: its line in the overview, and how to load its handler and usage text. */
const COMMANDS: Readonly<Record<string, { readonly line: string; readonly load: () => Promise<CommandModule> }>> = {
  compile: { line: 'compile SPEC    compile a model spec to the graph IR and report its size', load: async () => { const m = await import('./compile.js'); return { run: m.runCompile, usage: m.compileUsage }; } },
  run: { line: "run             run a model's forward pass on inputs, write its outputs", load: async () => { const m = await import('./run.js'); return { run: m.runRun, usage: m.runUsage }; } },
  serve: { line: 'serve DIR       serve a web page that runs a compiled model with WebGPU', load: async () => { const m = await import('./serve.js'); return { run: m.runServe, usage: m.serveUsage }; } },
  fmt: { line: 'fmt FILE.tcc    format DSL files canonically (--check to verify)', load: async () => { const m = await import('./dsl.js'); return { run: m.runFmt, usage: m.fmtUsage }; } },
  convert: { line: 'convert FILE    write a spec as DSL or as YAML (--to tcc|yaml)', load: async () => { const m = await import('./dsl.js'); return { run: m.runConvert, usage: m.convertUsage }; } },
  'import-hf': { line: 'import-hf DIR   write the spec of a HuggingFace directory (BERT family)', load: async () => { const m = await import('./import-hf.js'); return { run: m.runImportHf, usage: m.importUsage }; } },
  embed: { line: 'embed MODEL     write sentence embeddings (sentence-transformers pooling)', load: async () => { const m = await import('./embed.js'); return { run: m.runEmbed, usage: m.embedUsage }; } },
  tokenize: { line: "tokenize        tokenize text as HuggingFace's tokenizers (tokenizer.json, vocab.txt)", load: async () => { const m = await import('./tokenize.js'); return { run: m.runTokenize, usage: m.tokenizeUsage }; } },
  prepare: { line: 'prepare         write masked-LM and next-sentence examples from a corpus', load: async () => { const m = await import('./pretrain.js'); return { run: m.runPrepare, usage: m.prepareUsage }; } },
  pretrain: { line: 'pretrain SPEC   pretrain with masked LM and next-sentence prediction', load: async () => { const m = await import('./pretrain.js'); return { run: m.runPretrain, usage: m.pretrainUsage }; } },
  finetune: { line: 'finetune SPEC   fine-tune a classification, tagging or question-answering head', load: async () => { const m = await import('./finetune.js'); return { run: m.runFinetune, usage: m.finetuneUsage }; } },
  evaluate: { line: 'evaluate MODEL  score a fine-tuned model on a labelled file (accuracy, F1, confusion)', load: async () => { const m = await import('./evaluate.js'); return { run: m.runEvaluate, usage: m.evaluateUsage }; } },
  report: { line: 'report RUN_DIR  draw a training run (losses, accuracy, rate, evaluation) as HTML', load: async () => { const m = await import('./report.js'); return { run: m.runReport, usage: m.reportUsage }; } },
  doctor: { line: 'doctor          check what this machine gives tcc (C compiler, WebGPU, Chromium, PyTorch)', load: async () => { const m = await import('./doctor.js'); return { run: m.runDoctor, usage: m.doctorUsage }; } },
  export: { line: 'export MODEL    write a model for onnxruntime, PyTorch (torchrun) or HuggingFace', load: async () => { const m = await import('./export.js'); return { run: m.runExport, usage: m.exportUsage }; } },
  vocab: { line: 'vocab           train a WordPiece vocabulary on a corpus', load: async () => { const m = await import('./vocab.js'); return { run: m.runVocab, usage: m.vocabUsage }; } },
  dataset: { line: 'dataset NAME    write real data: brown (text and a genre set), text (several corpora for pretraining)', load: async () => { const m = await import('./dataset.js'); return { run: m.runDataset, usage: m.datasetUsage }; } },
};

/** The overview: one screen, every command in a line. */
function overview(): string {
  return `usage: tcc <command> [options]

commands:
${Object.values(COMMANDS).map((c) => `  ${c.line}`).join('\n')}

options for every command:
  --debug         verify the IR and show stack traces on errors
  -h, --help      help for a command (or: tcc help COMMAND)
  --version       print the version

A model is a spec (models/*.yaml, models/*.tcc), a HuggingFace model directory,
or a HuggingFace Hub id (bert-base-uncased: from the HuggingFace cache, else downloaded).`;
}

export async function main(argv: string[], io: Io): Promise<number> {
  const debug = argv.includes('--debug');
  const args = argv.filter((a) => a !== '--debug');
  try {
    await loadDsl();
    const [command, ...rest] = args;
    if (command !== undefined && Object.hasOwn(COMMANDS, command)) return await (await COMMANDS[command]!.load()).run(rest, debug, io);
    if (command === '--version') {
      io.stdout.write(`tcc ${packageVersion()}\n`);
      return 0;
    }
    if (command === 'help' && rest.length) {
      const [name] = rest;
      if (!Object.hasOwn(COMMANDS, name!)) throw new UsageError(`no command '${name!.slice(0, 40)}'${didYouMean(name!, Object.keys(COMMANDS)).replace(/^; /, ': ') || `; run 'tcc --help' for the list`}`);
      io.stdout.write((await COMMANDS[name!]!.load()).usage + '\n');
      return 0;
    }
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      io.stdout.write(overview() + '\n');
      return 0;
    }
    const near = didYouMean(command, Object.keys(COMMANDS));
    throw new UsageError(`unknown command '${command.slice(0, 40)}'${near ? near.replace(/^; /, ': ') : `; run 'tcc --help' for the list`}`);
  } catch (e) {
    return reportError(e, debug, io);
  }
}

/** What `main` printed and returned. */
export interface Captured {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI in this process with its output captured as strings (for tests and embedding). */
export async function mainCaptured(argv: string[]): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } });
  return { code, stdout, stderr };
}
