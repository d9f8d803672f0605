// Property tests draw from one seed, so that a run is repeatable: the same
// cases in every run of the suite and in CI. FC_SEED=N draws others (a
// failure prints the seed and path that reproduce it).
import fc from 'fast-check';

fc.configureGlobal({ seed: Number(process.env['FC_SEED'] ?? 20261129) });
