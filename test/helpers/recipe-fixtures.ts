// Helpers for the recipe and CLI tests: recipe files, hand-made checkpoint folders, checks that a
// failed merge left nothing behind, f16 ulp distances, and running the real CLI as a child process.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { MergeSearchError, type ErrorCode } from '../../src/errors.ts';
import { encodeFromF32, type Dtype } from '../../src/io/dtype.ts';
import { writeSafetensorsFile } from '../../src/io/safetensors-writer.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Write `text` to DIR/NAME.yaml and return its path. */
export function writeRecipe(dir: string, name: string, text: string): string {
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(file, text);
  return file;
}

/** Neither `out` nor a `.BASENAME.partial-*` temporary folder beside it exists. */
export function expectNoOutput(out: string): void {
  expect(fs.existsSync(out), `${out} should not exist`).toBe(false);
  const parent = path.dirname(out);
  const prefix = `.${path.basename(out)}.partial-`;
  const leftovers = fs.existsSync(parent) ? fs.readdirSync(parent).filter((f) => f.startsWith(prefix)) : [];
  expect(leftovers, `temporary folders left beside ${out}`).toEqual([]);
}

/** Like expectCode, for code that may throw synchronously or reject. */
export async function expectCodeAsync(fn: () => unknown, code: ErrorCode, ...mentions: string[]): Promise<MergeSearchError> {
  let thrown: unknown;
  try {
    await fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected ${code} to be thrown`).toBeInstanceOf(MergeSearchError);
  const err = thrown as MergeSearchError;
  expect(err.code, err.message).toBe(code);
  for (const m of mentions) expect(err.message).toContain(m);
  return err;
}

export interface HandTensor {
  name: string;
  shape: number[];
  /** Values (float32); default: a deterministic ramp. */
  values?: ArrayLike<number>;
  dtype?: Extract<Dtype, 'F32' | 'F16' | 'BF16'>;
}

/** A checkpoint folder with one model.safetensors and, optionally, a config.json. */
export function writeHandCheckpoint(dir: string, tensors: HandTensor[], config?: Record<string, unknown>): string {
  fs.mkdirSync(dir, { recursive: true });
  const planned = tensors.map((t) => {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const dtype = t.dtype ?? 'F32';
    const vals = Float32Array.from(t.values ?? Array.from({ length: numel }, (_, i) => 0.01 * (i + 1)));
    const data = new Uint8Array(numel * (dtype === 'F32' ? 4 : 2));
    encodeFromF32(dtype, vals, data);
    return { name: t.name, dtype, shape: t.shape, data };
  });
  writeSafetensorsFile(path.join(dir, 'model.safetensors'), planned);
  if (config) fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  return dir;
}

/** f16 bit pattern → an integer whose order matches the float order (so |a − b| counts ulps). */
function f16Ordered(bits: number): number {
  return bits & 0x8000 ? -(bits & 0x7fff) : bits & 0x7fff;
}

/** Distance in f16 ulps between two f16 bit patterns (+0 and −0 are 0 apart). */
export function f16UlpDistance(a: number, b: number): number {
  return Math.abs(f16Ordered(a) - f16Ordered(b));
}

/** Float32 values rounded to f16 bit patterns (round to nearest even). */
export function toF16Bits(values: Float32Array): Uint16Array {
  const out = new Uint8Array(values.length * 2);
  encodeFromF32('F16', values, out);
  return new Uint16Array(out.buffer, 0, values.length);
}

/** Raw little-endian f16 bytes as bit patterns (copied, so alignment does not matter). */
export function f16BitsOf(bytes: Uint8Array): Uint16Array {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return new Uint16Array(copy.buffer, 0, bytes.length / 2);
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run `node bin/mergesearch.js ARGS` from the repository root, as a user would. */
/** Runs the CLI; the timeout only stops a hung child (generous: a loaded machine is slow). */
export function runCli(args: string[], timeoutMs = 300_000): CliResult {
  const r = spawnSync(process.execPath, ['bin/mergesearch.js', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, CI: 'true', NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every file under `dir` (relative names, sorted) with its bytes. */
export function readTree(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const f of fs.readdirSync(dir).sort()) out.set(f, fs.readFileSync(path.join(dir, f)));
  return out;
}
