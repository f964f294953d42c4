// The one golden mechanism: a fixed-seed run's proposals, rounded, compared with a committed JSON
// file in test/golden/. A difference means the optimizer or the problem behind it changed: an
// intended change is re-recorded with UPDATE_GOLDEN=1 (and the diff reviewed), anything else is a
// regression. Rounding to `digits` significant digits keeps float noise below the last digit out.
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';

const DIR = path.join(import.meta.dirname, '..', 'golden');

export function roundDeep(v: unknown, digits: number): unknown {
  if (typeof v === 'number') return Number.isFinite(v) ? Number(v.toPrecision(digits)) : String(v);
  if (Array.isArray(v)) return v.map((e) => roundDeep(e, digits));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, roundDeep(e, digits)]));
  return v;
}

/** Compare `value` (rounded to `digits` significant digits) with test/golden/NAME.json. */
export function expectGolden(name: string, value: unknown, digits = 12): void {
  const file = path.join(DIR, `${name}.json`);
  const rounded = roundDeep(value, digits);
  if (process.env.UPDATE_GOLDEN === '1') fs.writeFileSync(file, `${JSON.stringify(rounded)}\n`);
  expect(fs.existsSync(file), `${file} is missing; record it with UPDATE_GOLDEN=1 npx vitest run <this test file>`).toBe(true);
  expect(rounded, `golden trace ${name} changed`).toEqual(JSON.parse(fs.readFileSync(file, 'utf8')));
}
