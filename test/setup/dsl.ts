// Every test file may compile .tcc specs: load the DSL parser first.
import { loadDsl } from '../../compiler/dsl/runtime.js';

await loadDsl();
