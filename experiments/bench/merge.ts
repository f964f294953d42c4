// npm run bench:merge [-- --scale N] [-- --llama 1b] [-- --hidden N] [-- --layers L] [-- --per-tensor] [-- --experts T] [-- --threads N] [-- --keep DIR] [-- --method NAME] [-- --no-peer]
// Generates a base and 3 experts (f16, Llama-shaped names, ~1 GB each; --scale 2 doubles the
// layers) in a temporary folder, then times, each in its own process so peak RSS is its own:
// a baseline that only reads every input tensor and writes one output of the same size, and the
// linear, ties and dare_ties merges. Prints input GB/s, the ratio to the baseline, peak RSS.
// A peer runs in the same run: mergekit's per-tensor pipeline in numpy (mergekit_peer.py; needs
// python3 with numpy, else it is skipped) for linear and ties, and the table ends with our speed
// over the peer's. MERGESEARCH_KERNELS=js measures the JavaScript kernels instead of wasm.
// --llama 1b: three 1.1 B-parameter bf16 checkpoints merged with ties (time and peak memory).
// --method NAME: time that method instead of the default steps (after the baseline on the 1 GB family);
//   nearswap and arcee_fusion merge the base with the first expert only.
// --hidden N [--layers L]: a small Llama-shaped family instead (hidden N, intermediate ≈ 2.75·N,
//   L layers, default 1, vocabulary 4096): its attention and MLP matrices are N×N and N×2.75N, a
//   size at which the SVD-family methods (--method tsv_m ...) finish on a small machine. Its
//   proportions are the 1 GB family's and --llama 1b's (intermediate = 2.75·hidden), so per-layer
//   times scale to them by (2048/N)³ for cubic work.
// --layers L (with --llama 1b or the 1 GB family): only the first L decoder layers of that shape
//   (plus embeddings, final norm and LM head); prints the time per layer and the full model's
//   estimate (other tensors + per-layer time × the full depth). --per-tensor: each tensor's time.
// --experts T: the number of experts besides the base (default 3; 2 with --llama 1b). TSV-M keeps
//   r/T triplets per task: T ≤ 3 takes the exact Gram path, T ≥ 4 the randomized one.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
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

/** Methods benchmarked with their default parameters. */
const DEFAULT_PARAMS = new Set(['tsv_m', 'iso_c', 'iso_cts', 'cart', 'widen', 'model_stock']);

/** The methods taken from mergekit: [global parameters, per-model parameters, experts used (all when absent)]. */
const MERGEKIT_METHOD_PARAMS: Record<string, [string, string, number?]> = {
  sce: ['select_topk: 0.3', ''],
  karcher: ['', ''],
  multislerp: ['', 'weight: 0.5'],
  nearswap: ['t: 0.001', '', 1],
  arcee_fusion: ['', '', 1],
  ram: ['', ''],
  ramplus_tl: ['', ''],
};

function recipeFor(method: string, dirs: string[]): string {
  const [base, ...experts] = dirs;
  const own = MERGEKIT_METHOD_PARAMS[method];
  const params = own ? own[1] : method === 'linear' ? 'weight: 0.25' : method === 'ties' ? 'weight: 1.0, density: 0.2' : DEFAULT_PARAMS.has(method) ? '' : 'weight: 0.5, density: 0.3';
  const inputs = method === 'linear' ? dirs : experts.slice(0, own?.[2] ?? experts.length);
  const models = inputs.map((d) => `  - model: ${d}${params ? `\n    parameters: { ${params} }` : ''}`).join('\n');
  return `merge_method: ${method}\n${method === 'linear' ? '' : `base_model: ${base}\n`}${own?.[0] ? `parameters: { ${own[0]} }\n` : ''}models:\n${models}\n`;
}

/** One measured step, run in this process (called as a child). Prints a JSON line. */
async function child(step: string, root: string, threads: number): Promise<void> {
  const dirs = fs.readdirSync(root).filter((d) => d === 'base' || d.startsWith('expert-')).sort().map((d) => path.join(root, d));
  const out = path.join(root, `out-${step}`);
  fs.rmSync(out, { recursive: true, force: true });
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  let inputBytes = 0;
  let layerSecs = 0;
  let otherSecs = 0;
  if (step === 'baseline') {
    inputBytes += readWriteBaseline(dirs, out);
  } else {
    // Wall time between consecutive finished tensors, split into the decoder layers' tensors and
    // the rest (embeddings, final norm, LM head): what a layer subset scales up from.
    let last = process.hrtime.bigint();
    let lastCpu = process.cpuUsage();
    const onProgress = (_done: number, _total: number, name: string): void => {
      const now = process.hrtime.bigint();
      const dt = Number(now - last) / 1e9;
      last = now;
      if (/(?:^|\.)layers\.\d+\./.test(name)) layerSecs += dt;
      else otherSecs += dt;
      if (args.includes('--per-tensor')) {
        // CPU seconds of the whole process (all threads) since the previous tensor, and its peak RSS so far.
        const c = process.cpuUsage(lastCpu);
        lastCpu = process.cpuUsage();
        process.stderr.write(`  ${name}: ${dt.toFixed(2)} s, ${((c.user + c.system) / 1e6).toFixed(2)} CPU-s, peak RSS ${((process.resourceUsage().maxRSS * 1024) / 1e9).toFixed(2)} GB\n`);
      }
    };
    const s = await mergeToFolder(parseRecipe(recipeFor(step, dirs)), { out, threads, shardSize: 5e9, onProgress });
    inputBytes = s.inputBytes;
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const used = process.cpuUsage(cpu0); // all threads of this process
  const cpu = (used.user + used.system) / 1e6;
  fs.rmSync(out, { recursive: true, force: true });
  const rss = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(JSON.stringify({ step, secs, cpu, inputBytes, rss, layerSecs, otherSecs }) + '\n');
}

type StepResult = { secs: number; cpu: number; inputBytes: number; rss: number; layerSecs?: number; otherSecs?: number };

/** The numpy peer on the same checkpoints, or undefined when python3 or numpy is missing. */
function runPeer(method: string, root: string): StepResult | undefined {
  const dirs = fs.readdirSync(root).filter((d) => d === 'base' || d.startsWith('expert-')).sort().map((d) => path.join(root, d));
  const out = path.join(root, `peer-${method}.safetensors`);
  try {
    const text = execFileSync('python3', [path.join(path.dirname(self), 'mergekit_peer.py'), method, out, ...dirs], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 20 });
    return JSON.parse(text.trim().split('\n').pop()!);
  } catch (e) {
    process.stderr.write(`peer ${method} skipped: ${(e as Error).message.split('\n')[0]}\n`);
    return undefined;
  } finally {
    fs.rmSync(out, { force: true });
  }
}

/** A Llama-shaped family with hidden size n (a multiple of 64), for timing the SVD methods. */
function smallShape(n: number, layers: number): LlamaShape {
  if (!(Number.isInteger(n) && n >= 64 && n % 64 === 0) || !(Number.isInteger(layers) && layers >= 1)) {
    throw new Error(`--hidden must be a multiple of 64 (got ${n}) and --layers a positive integer (got ${layers})`);
  }
  const heads = n / 64;
  return { hidden: n, intermediate: Math.round((2.75 * n) / 64) * 64, layers, vocab: 4096, heads, kvHeads: Math.max(1, Math.floor(heads / 8)) };
}

function runStep(step: string, root: string, threads: number): StepResult {
  const outText = execFileSync(process.execPath, [...process.execArgv, self, '--child', step, '--root', root, '--threads', String(threads), ...(args.includes('--per-tensor') ? ['--per-tensor'] : [])], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 20,
  });
  return JSON.parse(outText.trim().split('\n').pop()!);
}

async function parent(): Promise<void> {
  const threads = Number(flag('--threads') ?? Math.min(os.availableParallelism(), 8));
  const llama = flag('--llama');
  const scale = Number(flag('--scale') ?? 1);
  const hidden = flag('--hidden');
  const layersFlag = flag('--layers');
  if (layersFlag !== undefined && !(Number.isInteger(Number(layersFlag)) && Number(layersFlag) >= 1)) throw new Error(`--layers must be a positive integer (got ${layersFlag})`);
  const full: LlamaShape = llama === '1b' ? LLAMA_1B : { ...LLAMA_1GB, layers: LLAMA_1GB.layers * scale };
  // --layers L with --llama 1b or the 1 GB family: the first L decoder layers of that shape (a layer
  // subset), timed per layer and scaled to the full depth.
  const shape: LlamaShape = hidden ? smallShape(Number(hidden), Number(layersFlag ?? 1)) : layersFlag ? { ...full, layers: Number(layersFlag) } : full;
  const experts = Number(flag('--experts') ?? (llama === '1b' ? 2 : 3));
  if (!(Number.isInteger(experts) && experts >= 1)) throw new Error(`--experts must be a positive integer (got ${flag('--experts')})`);
  const dtype = llama === '1b' ? 'BF16' : 'F16';
  const root = flag('--keep') ?? fs.mkdtempSync(path.join(os.tmpdir(), 'mergesearch-bench-'));
  const method = flag('--method');
  const steps = llama === '1b' ? [method ?? 'ties'] : method ? ['baseline', method] : ['baseline', 'linear', 'ties', 'dare_ties'];
  try {
    if (!fs.existsSync(path.join(root, `expert-${experts}`, 'config.json'))) {
      const t0 = Date.now();
      process.stderr.write(`generating a base and ${experts} experts (${dtype}, ${shape.layers} layers) in ${root} ...\n`);
      writeSyntheticFamily(root, shape, experts, { seed: 7, dtype, shardSize: 2e9 });
      process.stderr.write(`generated in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    }
    // Warm the page cache so the first measured step does not pay for cold reads alone.
    runStep('baseline', root, threads);
    const rows: Array<{ step: string; secs: number; cpu: number; gbps: number; rss: number; bytes: number }> = [];
    const estimates: string[] = [];
    for (const step of steps) {
      const r = runStep(step, root, threads);
      rows.push({ step, secs: r.secs, cpu: r.cpu, gbps: r.inputBytes / r.secs / 1e9, rss: r.rss, bytes: r.inputBytes });
      if (step !== 'baseline' && r.layerSecs !== undefined && hidden) {
        estimates.push(`${step}: ${(r.layerSecs / shape.layers).toFixed(1)} s per decoder layer (wall), ${r.otherSecs!.toFixed(1)} s for the other tensors`);
      }
      if (step !== 'baseline' && r.layerSecs !== undefined && !hidden && shape.layers < full.layers) {
        const perLayer = r.layerSecs / shape.layers;
        const est = r.otherSecs! + perLayer * full.layers;
        const cpuEst = r.cpu * (est / r.secs);
        estimates.push(`${step}: ${perLayer.toFixed(1)} s per decoder layer (wall), ${r.otherSecs!.toFixed(1)} s for the other tensors; the full ${full.layers}-layer model ≈ ${est.toFixed(0)} s wall (${(est / 3600).toFixed(2)} h), ≈ ${cpuEst.toFixed(0)} CPU s at this run's CPU/wall ratio`);
      }
    }
    const peerMethods = llama === '1b' || args.includes('--no-peer') ? [] : ['linear', 'ties'];
    for (const m of peerMethods) {
      const r = runPeer(m, root);
      if (r) rows.push({ step: `peer-${m}`, secs: r.secs, cpu: r.cpu, gbps: r.inputBytes / r.secs / 1e9, rss: r.rss, bytes: r.inputBytes });
    }
    const base = rows.find((r) => r.step === 'baseline');
    console.log(`\nmerge benchmark: ${experts + 1} checkpoints × ${(shape.layers)} layers, ${dtype}, ${threads} threads, ${process.env.MERGESEARCH_KERNELS ?? 'wasm'} kernels`);
    // On a shared machine wall time swings with other people's load; CPU seconds (all threads) per
    // input byte swing far less, so the last column is the ratio of those to the baseline's.
    console.log('step           seconds   input GB/s   ratio to baseline   peak RSS   CPU s   CPU-time ratio');
    for (const r of rows) {
      const ratio = base ? (r.gbps / base.gbps).toFixed(2) : 'n/a';
      const cpuRatio = base ? (base.cpu / base.bytes / (r.cpu / r.bytes)).toFixed(2) : 'n/a';
      console.log(`${r.step.padEnd(14)} ${r.secs.toFixed(2).padStart(7)}   ${r.gbps.toFixed(2).padStart(10)}   ${ratio.padStart(17)}   ${(r.rss / 1e9).toFixed(2)} GB   ${r.cpu.toFixed(1).padStart(5)}   ${cpuRatio.padStart(14)}`);
    }
    for (const e of estimates) console.log(e);
    for (const m of peerMethods) {
      const ours = rows.find((r) => r.step === m);
      const peer = rows.find((r) => r.step === `peer-${m}`);
      if (ours && peer) console.log(`${m}: ours / numpy peer = ${(ours.gbps / peer.gbps).toFixed(2)}× (wall), ${(peer.cpu / peer.bytes / (ours.cpu / ours.bytes)).toFixed(2)}× (CPU time)`);
    }
  } finally {
    if (!flag('--keep')) fs.rmSync(root, { recursive: true, force: true });
  }
}

if (args[0] === '--child') await child(args[1]!, flag('--root')!, Number(flag('--threads')));
else await parent();
