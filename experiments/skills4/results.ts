// npm run results:skills4 [-- --only NAME,NAME] [--skip-studies] [--zoo DIR] [--out FILE] —
// test-split exact match and loss per answer token for the base, the individual experts, the
// classic merges (λ chosen on the validation split) and the best trial of every study in
// experiments/skills4/studies/, each run from scratch. Without --zoo: the built-in zoo (built with
// seed 0 into zoo/skills4 if missing), experiments/skills4/studies.db and the tracked
// experiments/skills4/RESULTS.md with its observations; with --zoo DIR: every study on that zoo
// (their `zoo:` replaced), studies.db beside the results file, DIR/RESULTS.md by default
// (experiments/results-target.ts).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
// The optimizer table (it loads the search modules) before the zoo family: the registry's import cycle.
import { LAMBDAS, optimizerRows, optimizerTable } from '../lm-optimizer-table.ts';
import { loadSkills4Zoo } from '../../src/zoo/skills4-family.ts';
import { initEngine } from '../../src/tensor/engine.ts';
import { mergeLmZoo } from '../../src/zoo/skills4-models.ts';
import { mergeNotes, writeTimings } from '../results-file.ts';
import { resultsTarget } from '../results-target.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1]!.split(',') : undefined;
const skipStudies = args.includes('--skip-studies');

const engine = await initEngine('auto');
const target = resultsTarget(args, { family: 'skills4', script: 'results:skills4', trackedFile: path.join(here, 'RESULTS.md'), onLog: (l) => console.error(l) });
const db = target.builtin ? path.join(here, 'studies.db') : path.join(path.dirname(target.out), 'studies.db');
// Written by hand about the built-in zoo's numbers: another zoo gets the table only.
const OBSERVATIONS = target.builtin ? path.join(here, 'observations.md') : '';
const zoo = loadSkills4Zoo(target.zooDir);
const started = Date.now();
const tasks = zoo.tasks;
const { rows, notes, individual } = await optimizerRows({
  zoo,
  tasks,
  experts: zoo.experts,
  merge: (spec) => mergeLmZoo(zoo, spec),
  studiesDir: path.join(here, 'studies'),
  db,
  zooOverride: target.builtin ? undefined : path.resolve(target.zooDir),
  only,
  skipStudies,
});

// Wall times go to TIMINGS.md (not tracked), so that the same run gives the same RESULTS.md.
// A partial run (--only, --skip-studies) replaces its own rows in the table already there and keeps
// the others.
const partial = only !== undefined || skipStudies;
const previous = partial && fs.existsSync(target.out) ? fs.readFileSync(target.out, 'utf8') : undefined;
const { table, previousNotes } = optimizerTable(rows, individual, tasks, { previous, file: target.out });
const observations = OBSERVATIONS && fs.existsSync(OBSERVATIONS) ? fs.readFileSync(OBSERVATIONS, 'utf8').trim() : '';
const m = zoo.manifest;
const text = `# ${target.builtin ? 'skills4 results' : `results on the zoo ${target.zooDir}`}

Regenerate with \`${target.command}\` (${target.builtin ? 'builds \`zoo/skills4\` with seed 0 if missing; ' : ''}${engine.backend} backend;
wall times go to TIMINGS.md beside this file, not tracked). The zoo: a ${m.model.parameters.toLocaleString('en-US')}-parameter LlamaForCausalLM
(hidden ${m.model.hidden}, ${m.model.layers} layers, ${m.model.heads} heads / ${m.model.kvHeads} key-value heads), character tokenizer,
four experts fine-tuned from one base (add, reverse, sort, lookup). Cells: test-split exact match (%) of the
greedy answer per task (${m.splits.test} prompts each); *normalized*: mean over tasks of merged / individual exact
match; *avg loss/token*: mean over tasks of the loss per answer token (nats, eos included). Every merge
combines all tensors of the four experts (a language model has no per-task heads). λ marked by value
was chosen among ${LAMBDAS.join(', ')} by mean validation exact match. Studies search on calibration exact
match (a fixed seeded subsample per task, see each config) and their best trial by mean calibration
exact match is scored here; *scoring forward passes* counts prompts run through candidates to score
trials, *gradient steps* the intermediate values logged: one per AdaMerging step, one per Frank-Wolfe
iteration (FW-Soft runs \`ada_steps\` AdaMerging steps inside each).

${table}

${mergeNotes(previousNotes, notes).map((n) => `- ${n}`).join('\n')}

${observations}
`;
fs.writeFileSync(target.out, text);
const timings = writeTimings(target.out, 'results:skills4', engine.backend, [
  `in all: ${((Date.now() - started) / 1000).toFixed(0)} s${partial ? ` (a partial run: ${skipStudies ? 'no studies' : `only ${only!.join(', ')}`})` : ''}`,
  ...rows.map((r) => `${r.name}: ${r.seconds.toFixed(0)} s`),
]);
console.log(text);
console.error(`wrote ${target.out}${partial ? ' (rows of this run merged into its table)' : ''}; wall times in ${timings}`);
