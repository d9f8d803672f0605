// Each spec file is checked against the JSON Schema (spec-schema.ts, by
// ajv's validator compiled ahead of time) before `extends` merges them, so
// that every error points into the file that has it. The schema checks
// structure and config types; the op-level checks (known ops, their
// attributes, shapes) need the op registry and live in the frontend.

import type { ErrorObject } from 'ajv';
import { DiagnosticBag, didYouMean, type Diagnostic } from './diagnostics.js';
import { validate as generated } from './spec-validator.generated.js';
import { nodeAt, toPlain, type LNode } from './yaml.js';

/** ajv's validator: true, or false with the violations in `errors`. */
const validate = generated as ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

function pathText(pointer: string): string {
  return pointer.split('/').slice(1).join('.') || 'the spec';
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

/** Checks one spec file against the schema; each violation becomes a located diagnostic. */
export function checkSchema(root: LNode, bag: DiagnosticBag): boolean {
  if (validate(toPlain(root))) return true;
  const seen = new Set<string>();
  const found = new DiagnosticBag();
  for (const e of validate.errors ?? []) {
    const key = `${e.instancePath}|${e.keyword}|${JSON.stringify(e.params)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    reportSchemaError(root, e, found);
  }
  // In source order, as a reader goes through the file.
  const position = (d: Diagnostic) => (d.loc ? d.loc.line * 1e6 + d.loc.col : 0);
  for (const d of [...found.items].sort((a, b) => position(a) - position(b))) bag.error(d.loc, d.message);
  return false;
}

function reportSchemaError(root: LNode, e: ErrorObject, bag: DiagnosticBag): void {
  // Errors on a mapping key (propertyNames) carry the key's name beside the mapping's path.
  const at = nodeAt(root, e.propertyName === undefined ? e.instancePath : `${e.instancePath}/${e.propertyName}`);
  const loc = at?.node.loc ?? root.loc;
  const where = pathText(e.instancePath);
  switch (e.keyword) {
    case 'additionalProperties': {
      const field = (e.params as { additionalProperty: string }).additionalProperty;
      const entry = nodeAt(root, `${e.instancePath}/${field}`);
      const known = Object.keys((e.parentSchema as { properties?: object }).properties ?? {});
      bag.error(entry?.keyLoc ?? loc, `unknown field '${field}' in ${where}${didYouMean(field, known)}`);
      return;
    }
    case 'required':
      bag.error(at?.keyLoc ?? loc, `${where} is missing the field '${(e.params as { missingProperty: string }).missingProperty}'`);
      return;
    case 'type':
      bag.error(loc, `${where} must be ${String((e.params as { type: string | string[] }).type).replace(/,/g, ' or ')}, got ${describe(e.data)}`);
      return;
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String);
      bag.error(loc, `${where} must be one of ${allowed.join(', ')}, got ${describe(e.data)}${didYouMean(String(e.data), allowed)}`);
      return;
    }
    case 'pattern':
      bag.error(at?.keyLoc ?? loc, `'${e.propertyName ?? String(e.data)}' is not a valid name (letters, digits and _, not starting with a digit)`);
      return;
    case 'propertyNames':
      return; // reported through the 'pattern' error on the name itself
    default:
      bag.error(loc, `${where} ${e.message ?? 'is invalid'}, got ${describe(e.data)}`);
  }
}
