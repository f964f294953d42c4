// `mergesearch merge RECIPE.yaml --out DIR`: a one-shot merge, mergekit style.
import os from 'node:os';
import type { Command } from 'commander';
import { fail } from '../errors.ts';
import { DEVICE_CHOICES, parseDeviceChoice } from '../gpu/device.ts';
import { defaultThreads } from '../merge/threads.ts';
import { byteProgress, formatBytes } from './progress.ts';

export function registerMerge(program: Command): void {
  program
    .command('merge')
    .description('merge checkpoints as a mergekit-style recipe says, into a checkpoint folder')
    .argument('<recipe>', 'recipe YAML (mergekit subset: models or slices, MODEL+LORA, base_model, merge_method, parameters, dtype, out_dtype, tokenizer_source, tokenizer, chat_template; several documents with name)')
    .requiredOption('--out <dir>', 'output checkpoint folder (written beside, renamed into place when complete)')
    .option('--shard-size <size>', 'largest shard, e.g. 5GB, 500MB, 2GiB', '5GB')
    .option('--seed <n>', 'seed for random methods (dare_*, della*)', '0')
    .option('--threads <n>', 'worker threads for large tensors', String(defaultThreads()))
    .option('--overwrite', 'replace a non-empty output folder')
    .option('--device <device>', `where the merge kernels run: ${DEVICE_CHOICES.join(', ')} (auto: a real GPU when present, else the CPU; gpu: any WebGPU adapter, software included)`, 'auto')
    .action(async (recipeFile: string, o: { out: string; shardSize: string; seed: string; threads: string; overwrite?: boolean; device: string }) => {
      const seed = intArg(o.seed, '--seed', 0);
      const threads = intArg(o.threads, '--threads', 1);
      const { parseRecipe, readRecipeText } = await import('../merge/recipe.ts');
      const { isMultiDocument, mergeDocuments, planDocuments, recipeDocuments } = await import('../merge/multi-recipe.ts');
      const { parseByteSize, removeUnfinishedOutputs } = await import('../io/checkpoint-writer.ts');
      const { mergeToFolder } = await import('../merge/merge-to-folder.ts');
      const { openMergeDevice } = await import('../gpu/merge-device.ts');
      const deviceChoice = parseDeviceChoice(o.device);
      const shardSize = parseByteSize(o.shardSize);
      const text = readRecipeText(recipeFile);
      const multi = isMultiDocument(text);
      // Several documents (mergekit-multi): every one is parsed and ordered before any merge runs.
      const steps = multi ? planDocuments(recipeDocuments(text, recipeFile), recipeFile, o.out) : undefined;
      const recipe = steps ? steps.find((s) => s.final)!.recipe : parseRecipe(text, recipeFile);
      if (!steps) for (const w of recipe.warnings) process.stderr.write(`warning: ${w}\n`);
      const warn = (w: string) => process.stderr.write(`warning: ${w}\n`);
      // Checked against the final document's method; the other documents' tensors are checked as they run.
      const device = await openMergeDevice(deviceChoice, recipe.method, warn);
      const progress = byteProgress();
      const started = Date.now();
      // Ctrl-C or a kill: drop the half-written output before exiting (kill -9 leaves it, and the
      // next run into the same --out removes it).
      const onSignal = (signal: NodeJS.Signals) => {
        try {
          removeUnfinishedOutputs();
        } catch {
          // best effort: a leftover temporary folder is removed by the next run into --out
        }
        process.stderr.write(`\ninterrupted by ${signal}; nothing was written to ${o.out}\n`);
        process.exit(128 + (os.constants.signals[signal] ?? 1));
      };
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
      const options = {
        out: o.out,
        seed,
        threads,
        shardSize,
        overwrite: o.overwrite,
        gpu: device.gpu,
        onWarning: warn,
        onProgress: (done: number, total: number, tensor: string) => progress.update(done, total, tensor),
      };
      let intermediates = new Map<string, string>();
      const summary = await (steps
        ? mergeDocuments(steps, {
            ...options,
            onDocument: (s, i, n) => {
              progress.finish();
              process.stderr.write(`document ${i + 1}/${n}: ${s.document.name ?? 'final'} (${s.recipe.method.name})${s.needs.length ? ` using ${s.needs.join(', ')}` : ''}\n`);
            },
          }).then((r) => {
            intermediates = r.intermediates;
            return r.final;
          })
        : mergeToFolder(recipe, options)
      ).finally(() => {
        progress.finish(); // end the progress line before any error message
        device.close();
      });
      const secs = (Date.now() - started) / 1000;
      process.stdout.write(
        `merged ${summary.tensors} tensors with ${recipe.method.name} in ${secs.toFixed(1)} s ` +
          `(read ${formatBytes(summary.inputBytes)}, wrote ${formatBytes(summary.outputBytes)})\n` +
          `wrote ${summary.out}: ${summary.files.join(', ')}\n` +
          [...intermediates].map(([n, p]) => `intermediate ${n}: ${p}\n`).join('') +
          `device: ${device.line}\n`,
      );
    });
}

export function intArg(v: string, flag: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) fail('CLI_E_ARG', `${flag} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}
