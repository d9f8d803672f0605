#!/usr/bin/env node
import { main } from './main.js';

// Dawn's WebGPU bindings may keep the event loop alive: exit once the command is done.
main(process.argv.slice(2), process).then((code) => {
  process.exitCode = code;
  process.stdout.write('', () => process.exit(code));
});
