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
import { runTokenize, tokenizeUsage } from './tokenize.js';
import { runVocab, vocabUsage } from './vocab.js';

const usage = `usage: tcc <command> [options]

commands:
  compile SPEC    compile a model spec to the graph IR and report its size
  run             run a model's forward pass on inputs, write its outputs
  import-hf DIR   write the spec of a HuggingFace BERT directory
  tokenize        WordPiece-tokenize text as HuggingFace's BertTokenizer
  prepare         write masked-LM and next-sentence examples from a corpus
  pretrain SPEC   pretrain with masked LM and next-sentence prediction
  finetune SPEC   fine-tune a classification or token-classification head
  vocab           train a WordPiece vocabulary on a corpus
  dataset brown   write the Brown Corpus as pretraining text and a genre set

options for every command:
  --debug         verify the IR and show stack traces on errors
  -h, --help      help for a command
  --version       print the version

${compileUsage}

${runUsage}

${importUsage}

${tokenizeUsage}

${prepareUsage}

${pretrainUsage}

${finetuneUsage}

${vocabUsage}

${datasetUsage}`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function main(argv: string[], io: Io): number {
  const debug = argv.includes('--debug');
  const args = argv.filter((a) => a !== '--debug');
  try {
    const [command, ...rest] = args;
    switch (command) {
      case 'compile':
        return runCompile(rest, debug, io);
      case 'run':
        return runRun(rest, debug, io);
      case 'import-hf':
        return runImportHf(rest, debug, io);
      case 'tokenize':
        return runTokenize(rest, debug, io);
      case 'prepare':
        return runPrepare(rest, debug, io);
      case 'pretrain':
        return runPretrain(rest, debug, io);
      case 'finetune':
        return runFinetune(rest, debug, io);
      case 'vocab':
        return runVocab(rest, debug, io);
      case 'dataset':
        return runDataset(rest, debug, io);
      case '--version':
        io.stdout.write(`tcc ${version()}\n`);
        return 0;
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.stdout.write(usage + '\n');
        return 0;
      default:
        throw new UsageError(`unknown command '${command}'; run 'tcc --help' for the list`);
    }
  } catch (e) {
    return reportError(e, debug, io);
  }
}
