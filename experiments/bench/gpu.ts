// npm run bench:gpu [-- --hidden N [--layers L]] [-- --llama 1b] [-- --experts T] [-- --threads N] [-- --methods a,b] [-- --keep DIR]
// npm run bench:gpu -- --scoring [...]: candidates/s scored on the GPU vs the CPU instead (gpu-scoring.ts).
// Merge speed on the GPU (--device gpu: whatever adapter Dawn offers, the software one included)
// against the CPU path and a baseline measured in the same run that only reads every input
// tensor and writes one output of the same size. Generates a base and T experts (bf16,
// Llama-shaped; default the 1 GB-per-checkpoint family, --hidden N for a small one, --llama 1b
// for three 1.1 B checkpoints) in a temporary folder; each step runs in its own process. Prints
// input GB/s, the ratio to the baseline, and GPU over CPU per method, with the adapter used.
// Methods (default linear, task_arithmetic, ties, ties_elect, dare_ties, breadcrumbs): ties at
// density 0.2 (top-k histograms), ties_elect at density 1 (sign election without trimming: no
// statistics passes), dare_ties at density 0.3 with its L1 rescale (a norm pass), breadcrumbs at
// density 0.3 with 1% outliers (two selections). On --device gpu the statistics passes run on the
// GPU too.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openMergeDevice } from '../../src/gpu/merge-device.ts';
import { mergeToFolder } from '../../src/merge/merge-to-folder.ts';
import { parseRecipe } from '../../src/merge/recipe.ts';
import { LLAMA_1B, LLAMA_1GB, writeSyntheticFamily, type LlamaShape } from '../../src/zoo/synthetic-llama.ts';
import { readWriteBaseline } from './read-write-baseline.ts';

const self = fileURLToPath(import.meta.url);
const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

function recipeFor(method: string, dirs: string[]): string {
  const [base, ...experts] = dirs;
  const name = method === 'ties_elect' ? 'ties' : method;
  const params =
    method === 'linear'
      ? 'weight: 0.25'
      : method === 'ties_elect'
        ? 'weight: 1.0, density: 1.0'
        : method === 'ties'
          ? 'weight: 1.0, density: 0.2'
          : method === 'task_arithmetic'
            ? 'weight: 0.3'
            : method === 'breadcrumbs'
              ? 'weight: 0.5, density: 0.3, gamma: 0.01'
              : 'weight: 0.5, density: 0.3';
  const models = (method === 'linear' ? dirs : experts).map((d) => `  - model: ${d}\n    parameters: { ${params} }`).join('\n');
  return `merge_method: ${name}\n${method === 'linear' ? '' : `base_model: ${base}\n`}models:\n${models}\n`;
}

/** One measured step in this process (a child): baseline, cpu:METHOD or gpu:METHOD. Prints a JSON line. */
async function child(step: string, root: string, threads: number): Promise<void> {
  const dirs = fs.readdirSync(root).filter((d) => d === 'base' || d.startsWith('expert-')).sort().map((d) => path.join(root, d));
  const out = path.join(root, `out-${step.replace(':', '-')}`);
  fs.rmSync(out, { recursive: true, force: true });
  let inputBytes = 0;
  let adapter = '';
  let secs = 0;
  if (step === 'baseline') {
    const t0 = process.hrtime.bigint();
    inputBytes += readWriteBaseline(dirs, out);
    secs = Number(process.hrtime.bigint() - t0) / 1e9;
  } else {
    const [where, method] = step.split(':') as ['cpu' | 'gpu', string];
    const recipe = parseRecipe(recipeFor(method, dirs));
    const device = await openMergeDevice(where, recipe.method, (w) => process.stderr.write(`warning: ${w}\n`));
    adapter = device.line;
    try {
      // Timed from after the device is open: the merge itself, reads and writes included.
      const t0 = process.hrtime.bigint();
      const s = await mergeToFolder(recipe, { out, threads, shardSize: 5e9, gpu: device.gpu });
      secs = Number(process.hrtime.bigint() - t0) / 1e9;
      inputBytes = s.inputBytes;
    } finally {
      device.close();
    }
  }
  fs.rmSync(out, { recursive: true, force: true });
  process.stdout.write(JSON.stringify({ step, secs, inputBytes, adapter }) + '\n');
}

function smallShape(n: number, layers: number): LlamaShape {
  if (!(Number.isInteger(n) && n >= 64 && n % 64 === 0) || !(Number.isInteger(layers) && layers >= 1)) {
    throw new Error(`--hidden must be a multiple of 64 (got ${n}) and --layers a positive integer (got ${layers})`);
  }
  const heads = n / 64;
  return { hidden: n, intermediate: Math.round((2.75 * n) / 64) * 64, layers, vocab: 4096, heads, kvHeads: Math.max(1, Math.floor(heads / 8)) };
}

function runStep(step: string, root: string, threads: number): { secs: number; inputBytes: number; adapter: string } {
  const text = execFileSync(process.execPath, [...process.execArgv, self, '--child', step, '--root', root, '--threads', String(threads)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 20,
  });
  return JSON.parse(text.trim().split('\n').pop()!);
}

async function parent(): Promise<void> {
  const threads = Number(flag('--threads') ?? Math.min(os.availableParallelism(), 8));
  const hidden = flag('--hidden');
  const shape: LlamaShape = flag('--llama') === '1b' ? LLAMA_1B : hidden ? smallShape(Number(hidden), Number(flag('--layers') ?? 1)) : LLAMA_1GB;
  const experts = Number(flag('--experts') ?? (flag('--llama') === '1b' ? 2 : 3));
  const methods = (flag('--methods') ?? 'linear,task_arithmetic,ties,ties_elect,dare_ties,breadcrumbs').split(',');
  const root = flag('--keep') ?? fs.mkdtempSync(path.join(os.tmpdir(), 'mergesearch-bench-gpu-'));
  try {
    if (!fs.existsSync(path.join(root, `expert-${experts}`, 'config.json'))) {
      process.stderr.write(`generating a base and ${experts} experts (BF16, hidden ${shape.hidden}, ${shape.layers} layers) in ${root} ...\n`);
      writeSyntheticFamily(root, shape, experts, { seed: 7, dtype: 'BF16', shardSize: 2e9 });
    }
    runStep('baseline', root, threads); // warm the page cache
    const rows: Array<{ step: string; secs: number; gbps: number; adapter: string }> = [];
    for (const step of ['baseline', ...methods.flatMap((m) => [`cpu:${m}`, `gpu:${m}`])]) {
      const r = runStep(step, root, threads);
      rows.push({ step, secs: r.secs, gbps: r.inputBytes / r.secs / 1e9, adapter: r.adapter });
    }
    const base = rows[0]!;
    const gpuLine = rows.find((r) => r.step.startsWith('gpu:'))?.adapter ?? '';
    console.log(`\nGPU merge benchmark: ${experts + 1} checkpoints, hidden ${shape.hidden}, ${shape.layers} layers, BF16, ${threads} CPU threads`);
    console.log(`adapter: ${gpuLine}`);
    console.log('step                    seconds   input GB/s   ratio to baseline   GPU / CPU');
    for (const r of rows) {
      const [where, m] = r.step.split(':');
      const cpu = where === 'gpu' ? rows.find((x) => x.step === `cpu:${m}`) : undefined;
      console.log(`${r.step.padEnd(22)} ${r.secs.toFixed(2).padStart(8)}   ${r.gbps.toPrecision(3).padStart(10)}   ${(r.gbps / base.gbps).toFixed(2).padStart(17)}   ${cpu ? (r.gbps / cpu.gbps).toFixed(2).padStart(9) : ''}`);
    }
  } finally {
    if (!flag('--keep')) fs.rmSync(root, { recursive: true, force: true });
  }
}

if (args[0] === '--child') await child(args[1]!, flag('--root')!, Number(flag('--threads')));
else if (args.includes('--scoring')) await (await import('./gpu-scoring.ts')).benchScoring();
else await parent();
