import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GENERATED_FILE, validatorSource } from '../../compiler/parser/spec-validator-source.js';

describe('the spec validator compiled ahead of time', () => {
  it('is what ajv makes of the schema now (npm run gen:schema after changing it)', () => {
    expect(readFileSync(GENERATED_FILE, 'utf8')).toBe(validatorSource());
  });
});
