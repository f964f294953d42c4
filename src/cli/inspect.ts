// `mergesearch inspect PATH...`: what is in each checkpoint, and whether they can be merged.
import type { Command } from 'commander';
import { Checkpoint } from '../io/checkpoint.ts';
import { compareCheckpoints, summarize } from '../io/compare.ts';
import { formatBytes } from './progress.ts';

const SHOW = 20;

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('tensor and parameter counts, dtypes and layers of checkpoints; with several, whether they are mergeable')
    .argument('<paths...>', 'checkpoint folders or .safetensors files')
    .option('--json', 'print JSON instead of text')
    .action((paths: string[], o: { json?: boolean }) => {
      const cs: Checkpoint[] = [];
      try {
        for (const p of paths) cs.push(Checkpoint.open(p));
        const summaries = cs.map(summarize);
        const diff = cs.length > 1 ? compareCheckpoints(cs) : undefined;
        if (o.json) {
          process.stdout.write(JSON.stringify({ checkpoints: summaries, comparison: diff }, null, 2) + '\n');
        } else {
          for (const s of summaries) {
            const dtypes = Object.entries(s.dtypes).map(([d, n]) => `${d}×${n}`).join(' ');
            process.stdout.write(
              `${s.path}\n  tensors ${s.tensors}  parameters ${s.parameters.toLocaleString('en-US')}  size ${formatBytes(s.bytes)}  shards ${s.shards}\n` +
                `  dtypes ${dtypes}  layers ${s.layers}${s.architecture ? `  architecture ${s.architecture}` : ''}\n`,
            );
          }
          if (diff) printDiff(diff);
        }
        if (diff && !diff.mergeable) process.exitCode = 1;
      } finally {
        cs.forEach((c) => c.close());
      }
    });
}

function printDiff(diff: ReturnType<typeof compareCheckpoints>): void {
  if (diff.mergeable) {
    process.stdout.write('mergeable: yes (same tensor names, shapes and layer counts)\n');
    return;
  }
  process.stdout.write('mergeable: no\n');
  const layerCounts = new Set(Object.values(diff.layers));
  if (layerCounts.size > 1) {
    process.stdout.write(`  layer counts differ: ${Object.entries(diff.layers).map(([p, n]) => `${p}=${n}`).join(', ')}\n`);
  }
  for (const m of diff.missing.slice(0, SHOW)) process.stdout.write(`  missing ${m.tensor} in ${m.missingFrom.join(', ')}\n`);
  if (diff.missing.length > SHOW) process.stdout.write(`  ... and ${diff.missing.length - SHOW} more missing tensors\n`);
  for (const s of diff.shapes.slice(0, SHOW)) {
    process.stdout.write(`  shape of ${s.tensor}: ${Object.entries(s.shapes).map(([p, sh]) => `${JSON.stringify(sh)} in ${p}`).join(', ')}\n`);
  }
  if (diff.shapes.length > SHOW) process.stdout.write(`  ... and ${diff.shapes.length - SHOW} more shape differences\n`);
}
