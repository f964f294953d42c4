// Search over checkpoints on disk, scored by the user's own command: each trial's point becomes a
// recipe, is merged with the streaming engine into a scratch folder, scored once per distinct
// command (one JSON line can carry several scores), and the folder is removed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkLmEvalPath, pickLmEvalScore, runCommandEvaluator, runLmEval } from '../../evaluators/index.ts';
import { fail } from '../errors.ts';
import { Checkpoint } from '../io/checkpoint.ts';
import { mergeToFolder } from '../merge/merge-to-folder.ts';
import { planMerge } from '../merge/plan.ts';
import { parseRecipe } from '../merge/recipe.ts';
import type { Evaluation, Problem } from './problem.ts';
import { SearchSpace } from './space.ts';
import type { CommandObjective, StudyConfig } from './study-config.ts';
import { recipeFor, recipeYaml } from './to-recipe.ts';

export class CommandProblem implements Problem {
  readonly space: SearchSpace;
  readonly description: string;
  private readonly numLayers: number;

  constructor(
    readonly checkpoints: { base: string; experts: string[] },
    readonly objectives: CommandObjective[],
    spaceSpec: StudyConfig['space'],
    private readonly seed: number,
  ) {
    const base = Checkpoint.open(checkpoints.base);
    let tensors: string[];
    try {
      tensors = [...base.tensors.keys()];
      // The layer count the streaming engine places gradient anchors with (config.json first),
      // so a layer-wise recipe hits each layer's value exactly.
      this.numLayers = base.numLayers();
    } finally {
      base.close();
    }
    for (const e of checkpoints.experts) if (!fs.existsSync(e)) fail('IO_E_NOT_FOUND', `expert checkpoint ${e} does not exist`);
    this.space = new SearchSpace(spaceSpec, tensors, checkpoints.experts.map((e) => path.basename(e)));
    // The checkpoints must merge at all (same tensors and shapes, a model count the method takes)
    // before the first trial: otherwise every trial would fail the same way, one merge at a time.
    planMerge(parseRecipe(this.recipe(this.space.init), 'trial recipe'), seed).close();
    // Trials are merged under the temporary folder; lm_eval could not be given a path with a comma.
    if (objectives.some((o) => o.lmEval)) checkLmEvalPath(path.join(os.tmpdir(), 'mergesearch-trial-XXXXXX', 'merged'), `a trial's merge under the temporary folder ${os.tmpdir()} (TMPDIR)`);
    this.description = `${checkpoints.experts.length} experts of ${checkpoints.base}, ${tensors.length} tensors, ${this.space.dim} coefficients, scored by command`;
  }

  static fromConfig(config: StudyConfig, source = 'study config'): CommandProblem {
    const objectives = config.objectives.filter((o): o is CommandObjective => o.kind === 'command');
    if (objectives.length !== config.objectives.length) fail('CONFIG_E_FIELD', `${source}: with checkpoints:, every objective needs command:`);
    return new CommandProblem(config.checkpoints!, objectives, config.space, config.seed);
  }

  recipe(x: readonly number[]): string {
    return recipeYaml(recipeFor(this.space, x, this.checkpoints, { numLayers: this.numLayers }));
  }

  async evaluate(x: number[], signal?: AbortSignal): Promise<Evaluation> {
    return this.mergeAndScore(this.recipe(x), signal);
  }

  /** Merge a recipe into a scratch folder, score it with the objectives' commands, remove the folder. */
  async mergeAndScore(recipe: string, signal?: AbortSignal): Promise<Evaluation> {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mergesearch-trial-'));
    const out = path.join(scratch, 'merged');
    try {
      await mergeToFolder(parseRecipe(recipe, 'trial recipe'), { out, seed: this.seed });
      return await this.scoreFolder(out, scratch, signal);
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  }

  /** Score a checkpoint folder as it is (the base, an expert): the objectives' commands, nothing merged. */
  async scoreCheckpoint(dir: string, signal?: AbortSignal): Promise<Evaluation> {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mergesearch-baseline-'));
    try {
      return await this.scoreFolder(dir, scratch, signal);
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  }

  /** Distinct command lines among the objectives: the runs one scoring costs. */
  get commandCount(): number {
    return new Set(this.objectives.map((o) => o.command)).size;
  }

  private async scoreFolder(out: string, scratch: string, signal?: AbortSignal): Promise<Evaluation> {
    const scores = new Map<string, Record<string, number>>();
    const values: number[] = [];
    for (const o of this.objectives) {
      let s = scores.get(o.command);
      if (!s) {
        // One harness run (or command run) serves every objective that shares its command line.
        s = o.lmEval
          ? await runLmEval({ command: o.command, checkpointDir: out, outputDir: path.join(scratch, `lm_eval-${scores.size}`), timeoutMs: o.timeoutSeconds * 1000, signal })
          : await runCommandEvaluator({ command: o.command, checkpointDir: out, timeoutMs: o.timeoutSeconds * 1000, signal });
        scores.set(o.command, s);
      }
      if (o.lmEval) {
        values.push(pickLmEvalScore(s, o.lmEval.task, o.lmEval.metric, o.direction).value);
        continue;
      }
      const v = s[o.key];
      if (v === undefined) fail('EVAL_E_OUTPUT', `objective ${o.name}: the command's JSON has no "${o.key}" (it has ${Object.keys(s).join(', ') || 'nothing'})`);
      values.push(v);
    }
    return { values, evaluations: scores.size };
  }

  close(): void {}
}
