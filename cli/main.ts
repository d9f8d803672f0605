// The `tcc` command: parses the subcommand and hands off. The binary is
// tcc.ts; tests call `main` with buffers for output.

import { readFileSync } from 'node:fs';
import { compileUsage, runCompile } from './compile.js';
import { reportError, UsageError, type Io } from './errors.js';
import { importUsage, runImportHf } from './import-hf.js';
import { datasetUsage, runDataset } from './dataset.js';
import { finetuneUsage, runFinetune } from './finetune.js';
import { prepareUsage, pretrainUsage, runPrepare, runPretrain } from './pretrain.js';
import { runRun, runUsage } from './run.js';
import { runServe, serveUsage } from './serve.js';
import { convertUsage, fmtUsage, runConvert, runFmt } from './dsl.js';
import { loadDsl } from '../compiler/dsl/runtime.js';
import { runTokenize, tokenizeUsage } from './tokenize.js';
import { runVocab, vocabUsage } from './vocab.js';

type Command = (argv: string[], debug: boolean, io: Io) => number | Promise<number>;

/** Every command: its line in the overview, its handler and its usage text. */
const COMMANDS: Readonly<Record<string, { readonly line: string; readonly run: Command; readonly usage: string }>> = {
  compile: { line: 'compile SPEC    compile a model spec to the graph IR and report its size', run: runCompile, usage: compileUsage },
  run: { line: "run             run a model's forward pass on inputs, write its outputs", run: runRun, usage: runUsage },
  serve: { line: 'serve DIR       serve a web page that runs a compiled model with WebGPU', run: runServe, usage: serveUsage },
  fmt: { line: 'fmt FILE.tcc    format DSL files canonically (--check to verify)', run: runFmt, usage: fmtUsage },
  convert: { line: 'convert FILE    write a spec as DSL or as YAML (--to tcc|yaml)', run: runConvert, usage: convertUsage },
  'import-hf': { line: 'import-hf DIR   write the spec of a HuggingFace BERT directory', run: runImportHf, usage: importUsage },
  tokenize: { line: "tokenize        WordPiece-tokenize text as HuggingFace's BertTokenizer", run: runTokenize, usage: tokenizeUsage },
  prepare: { line: 'prepare         write masked-LM and next-sentence examples from a corpus', run: runPrepare, usage: prepareUsage },
  pretrain: { line: 'pretrain SPEC   pretrain with masked LM and next-sentence prediction', run: runPretrain, usage: pretrainUsage },
  finetune: { line: 'finetune SPEC   fine-tune a classification, tagging or question-answering head', run: runFinetune, usage: finetuneUsage },
  vocab: { line: 'vocab           train a WordPiece vocabulary on a corpus', run: runVocab, usage: vocabUsage },
  dataset: { line: 'dataset brown   write the Brown Corpus as pretraining text and a genre set', run: runDataset, usage: datasetUsage },
};

const usage = `usage: tcc <command> [options]

commands:
${Object.values(COMMANDS).map((c) => `  ${c.line}`).join('\n')}

options for every command:
  --debug         verify the IR and show stack traces on errors
  -h, --help      help for a command
  --version       print the version

${Object.values(COMMANDS).map((c) => c.usage).join('\n\n')}`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: string[], io: Io): Promise<number> {
  const debug = argv.includes('--debug');
  const args = argv.filter((a) => a !== '--debug');
  try {
    await loadDsl();
    const [command, ...rest] = args;
    if (command !== undefined && Object.prototype.hasOwnProperty.call(COMMANDS, command)) return await COMMANDS[command]!.run(rest, debug, io);
    if (command === '--version') {
      io.stdout.write(`tcc ${version()}\n`);
      return 0;
    }
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      io.stdout.write(usage + '\n');
      return 0;
    }
    throw new UsageError(`unknown command '${command}'; run 'tcc --help' for the list`);
  } catch (e) {
    return reportError(e, debug, io);
  }
}
