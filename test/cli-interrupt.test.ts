// A merge stopped by a signal leaves no checkpoint and no temporary folder; one killed outright
// (kill -9) leaves its temporary folder, which the next merge into the same --out removes.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticFamily, type LlamaShape } from '../src/zoo/synthetic-llama.ts';

const SHAPE: LlamaShape = { hidden: 512, intermediate: 1536, layers: 6, vocab: 4000, heads: 8, kvHeads: 4 };
const repo = path.resolve(import.meta.dirname, '..');
let root: string;
let recipe: string;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-interrupt-'));
  const [base, ...experts] = writeSyntheticFamily(path.join(root, 'models'), SHAPE, 3, { seed: 2, dtype: 'F32' });
  recipe = path.join(root, 'ties.yaml');
  fs.writeFileSync(recipe, `merge_method: ties\nbase_model: ${base}\nmodels:\n${experts.map((d) => `  - model: ${d}\n    parameters: { weight: 1, density: 0.2 }`).join('\n')}\n`);
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function partials(out: string): string[] {
  return fs.readdirSync(path.dirname(out)).filter((n) => n.startsWith(`.${path.basename(out)}.partial-`));
}

/** Start a merge and send `signal` once its temporary folder exists. Resolves with the exit. */
function mergeAndSignal(out: string, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/mergesearch.js', 'merge', recipe, '--out', out, '--threads', '1'], { cwd: repo, env: { ...process.env, CI: 'true' } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const poll = setInterval(() => {
      if (partials(out).length > 0) {
        clearInterval(poll);
        child.kill(signal);
      }
    }, 5);
    child.on('error', reject);
    child.on('exit', (code, sig) => {
      clearInterval(poll);
      resolve({ code, signal: sig, stderr });
    });
  });
}

describe('interrupted merges', () => {
  it('SIGTERM removes the temporary folder and writes nothing', async () => {
    const out = path.join(root, 'out-term');
    const r = await mergeAndSignal(out, 'SIGTERM');
    expect(r.code).toBe(143);
    expect(r.stderr).toContain('interrupted by SIGTERM');
    expect(fs.existsSync(out)).toBe(false);
    expect(partials(out)).toEqual([]);
  });

  it('kill -9 leaves a temporary folder that the next run removes', async () => {
    const out = path.join(root, 'out-kill');
    const r = await mergeAndSignal(out, 'SIGKILL');
    expect(r.signal).toBe('SIGKILL');
    expect(fs.existsSync(out)).toBe(false);
    expect(partials(out).length).toBe(1);
    const again = await new Promise<number | null>((resolve) => {
      const c = spawn(process.execPath, ['bin/mergesearch.js', 'merge', recipe, '--out', out, '--threads', '1'], { cwd: repo, stdio: 'ignore' });
      c.on('exit', resolve);
    });
    expect(again).toBe(0);
    expect(fs.existsSync(path.join(out, 'model.safetensors'))).toBe(true);
    expect(partials(out)).toEqual([]);
  });
});
