// `mergesearch eval --model DIR --zoo skills4|DIR`: per-task exact match, per-token loss,
// perplexity and prompt entropy of a Llama-family checkpoint on the skills4 zoo.
import { scoreSkills } from '../zoo/skills4-eval.ts';
import type { EvalSplit } from '../zoo/skills4-tasks.ts';
import { intArg } from './merge.ts';

export function printSkills4Eval(o: { model: string; split: string; samples?: string; json?: boolean }, zooDir: string, backend: string): void {
  const scores = scoreSkills(o.model, zooDir, o.split as EvalSplit, { samples: o.samples === undefined ? undefined : intArg(o.samples, '--samples', 1) });
  const mean = scores.reduce((a, s) => a + s.exactMatch, 0) / scores.length;
  if (o.json) {
    process.stdout.write(JSON.stringify({ model: o.model, zoo: zooDir, split: o.split, backend, scores, meanExactMatch: mean }, null, 2) + '\n');
    return;
  }
  process.stdout.write(`${o.model} on ${zooDir} (${o.split}, ${backend} backend)\n`);
  for (const s of scores) {
    process.stdout.write(`  ${s.task.padEnd(10)} exact match ${s.exactMatch.toFixed(4)}  loss/token ${s.loss.toFixed(4)}  perplexity ${s.perplexity.toFixed(3)}  entropy ${s.entropy.toFixed(4)}  (${s.samples} samples)\n`);
  }
  process.stdout.write(`  ${'average'.padEnd(10)} exact match ${mean.toFixed(4)}\n`);
}
