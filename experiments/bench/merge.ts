// npm run bench:merge [-- --scale N] [-- --llama 1b] [-- --hidden N] [-- --layers L] [-- --per-tensor] [-- --experts T] [-- --threads N] [-- --reps R] [-- --keep DIR] [-- --method NAME] [-- --no-peer]
// Generates a base and 3 experts (f16, Llama-shaped names, ~1 GB each; --scale 2 doubles the
// layers) in a temporary folder, then times, each in its own process so peak RSS is its own:
// a baseline that only reads every input tensor and writes one output of the same size, and the
// linear, ties and dare_ties merges. Prints input GB/s, the ratio to the baseline, peak RSS.
// --reps R (default 3): the baseline and every step R times, interleaved (baseline, steps, baseline,
// steps, ...); each repetition's ratios are taken against its own baseline and the table prints
// the medians (peak RSS: the largest).
// Threads: the merges run on --threads worker threads (default: the CPU count, at most 8; 2 on the
// project's machine); the baseline is one thread reading and writing, as mergekit's I/O is. Two
// ratios, labelled: the wall ratio (input GB/s over the baseline's: what "on 2 cores" asks, but it
// swings with other people's load on a shared machine) and the CPU-time ratio (the baseline's CPU
// seconds per input byte over the step's, all threads counted: independent of the thread count and
// much steadier under load). "cores used" is CPU seconds over wall seconds.
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

interface Row {
  step: string;
  reps: number;
  secs: number;
  cpu: number;
  gbps: number;
  bytes: number;
  rss: number;
  wallRatio?: number;
  cpuRatio?: number;
  /** Every repetition's ratios, when there are several. */
  all?: { wall: number[]; cpu: number[] };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Medians over repetitions; ratios against each repetition's own baseline (none without one). */
function summarize(step: string, list: Array<{ r: StepResult; base: StepResult }>, hasBaseline: boolean): Row {
  const gbps = (r: StepResult) => r.inputBytes / r.secs / 1e9;
  const wall = list.map(({ r, base }) => gbps(r) / gbps(base));
  const cpu = list.map(({ r, base }) => base.cpu / base.inputBytes / (r.cpu / r.inputBytes));
  return {
    step,
    reps: list.length,
    secs: median(list.map(({ r }) => r.secs)),
    cpu: median(list.map(({ r }) => r.cpu)),
    gbps: median(list.map(({ r }) => gbps(r))),
    bytes: list[0]!.r.inputBytes,
    rss: Math.max(...list.map(({ r }) => r.rss)),
    wallRatio: hasBaseline ? median(wall) : undefined,
    cpuRatio: hasBaseline ? median(cpu) : undefined,
    all: list.length > 1 && hasBaseline ? { wall, cpu } : undefined,
  };
}

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
    const reps = Number(flag('--reps') ?? 3);
    if (!(Number.isInteger(reps) && reps >= 1)) throw new Error(`--reps must be a positive integer (got ${flag('--reps')})`);
    const load0 = os.loadavg()[0]!;
    // Per step, one entry per repetition; the baseline of the same repetition comes first.
    const runs = new Map<string, Array<{ r: StepResult; base: StepResult }>>();
    const estimates: string[] = [];
    for (let rep = 0; rep < reps; rep++) {
      let base: StepResult | undefined;
      for (const step of steps) {
        const r = runStep(step, root, threads);
        base ??= step === 'baseline' ? r : undefined;
        if (!runs.has(step)) runs.set(step, []);
        runs.get(step)!.push({ r, base: base ?? r });
        if (rep > 0) continue;
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
    }
    const hasBaseline = runs.has('baseline');
    const rows: Row[] = [...runs].map(([step, list]) => summarize(step, list, hasBaseline));
    const peerMethods = llama === '1b' || args.includes('--no-peer') ? [] : ['linear', 'ties'];
    const baseRun = runs.get('baseline')?.at(-1)?.r;
    for (const m of peerMethods) {
      const r = runPeer(m, root);
      if (r) rows.push(summarize(`peer-${m}`, [{ r, base: baseRun ?? r }], hasBaseline));
    }
    const load1 = os.loadavg()[0]!;
    console.log(`\nmerge benchmark: ${experts + 1} checkpoints × ${shape.layers} layers, ${dtype}, ${process.env.MERGESEARCH_KERNELS ?? 'wasm'} kernels`);
    console.log(`merges on ${threads} thread(s); the baseline on one (a single reader and writer). ${reps} repetition(s): medians, each ratio against its own repetition's baseline; the peer once, against the last baseline.`);
    console.log('wall ratio = input GB/s over the baseline\'s; CPU-time ratio = the baseline\'s CPU s per input byte over the step\'s (every thread counted); cores used = CPU s / wall s.');
    console.log('step                 reps   wall s   input GB/s   wall ratio    CPU s   CPU-time ratio   cores used   peak RSS');
    const f2 = (x: number | undefined) => (x === undefined ? 'n/a' : x.toFixed(2));
    for (const r of rows) {
      console.log(
        `${r.step.padEnd(20)} ${String(r.reps).padStart(4)}   ${r.secs.toFixed(2).padStart(6)}   ${r.gbps.toFixed(2).padStart(10)}   ${f2(r.wallRatio).padStart(10)}   ${r.cpu.toFixed(1).padStart(6)}   ${f2(r.cpuRatio).padStart(14)}   ${(r.cpu / r.secs).toFixed(2).padStart(10)}   ${(r.rss / 1e9).toFixed(2)} GB`,
      );
    }
    if (reps > 1) {
      for (const r of rows) if (r.all) console.log(`  ${r.step}: wall ratios ${r.all.wall.map(f2).join(', ')}; CPU-time ratios ${r.all.cpu.map(f2).join(', ')}`);
    }
    for (const e of estimates) console.log(e);
    for (const m of peerMethods) {
      const ours = rows.find((r) => r.step === m);
      const peer = rows.find((r) => r.step === `peer-${m}`);
      if (ours && peer) console.log(`${m}: ours / numpy peer = ${(ours.gbps / peer.gbps).toFixed(2)}× (wall), ${(peer.cpu / peer.bytes / (ours.cpu / ours.bytes)).toFixed(2)}× (CPU time)`);
    }
    console.log(`load average (1 min): ${load0.toFixed(2)} at the first measured step, ${load1.toFixed(2)} at the end, on ${os.availableParallelism()} cores`);
  } finally {
    if (!flag('--keep')) fs.rmSync(root, { recursive: true, force: true });
  }
}

if (args[0] === '--child') await child(args[1]!, flag('--root')!, Number(flag('--threads')));
else await parent();
