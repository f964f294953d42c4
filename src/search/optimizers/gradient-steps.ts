// What the gradient optimizers (AdaMerging, Frank-Wolfe's soft variant) share: Adam's step in
// float64 with projection into the bounds, the per-step sample seed, and the coded error when a
// study has no differentiable problem.
import { fail } from '../../errors.ts';
import { streamKey } from '../../tensor/random.ts';
import type { GradientProblem, OptimizerContext } from '../optimizer.ts';

export const ADAM_BETA1 = 0.9;
export const ADAM_BETA2 = 0.999;
export const ADAM_EPS = 1e-8;

/** Adam moments after one step, and the new point clipped into [low, high] (float64 throughout). */
export function adamStep(
  x: readonly number[],
  grad: readonly number[],
  m: readonly number[],
  v: readonly number[],
  t: number,
  lr: number,
  low: readonly number[],
  high: readonly number[],
): { x: number[]; m: number[]; v: number[] } {
  const m2 = m.map((mi, i) => ADAM_BETA1 * mi + (1 - ADAM_BETA1) * grad[i]!);
  const v2 = v.map((vi, i) => ADAM_BETA2 * vi + (1 - ADAM_BETA2) * grad[i]! * grad[i]!);
  const c1 = 1 - ADAM_BETA1 ** t;
  const c2 = 1 - ADAM_BETA2 ** t;
  // torch.optim.Adam: x -= lr · m̂ / (√v̂ + eps)
  const x2 = x.map((xi, i) => Math.min(high[i]!, Math.max(low[i]!, xi - (lr * (m2[i]! / c1)) / (Math.sqrt(v2[i]! / c2) + ADAM_EPS))));
  return { x: x2, m: m2, v: v2 };
}

/** A sample seed for step `step` of the stream `seed` (deterministic, no state besides the counter). */
export function sampleSeed(seed: number, step: number): number {
  const hi = Math.floor(seed / 4294967296);
  return streamKey((seed >>> 0) ^ Math.imul(hi, 0x9e3779b1), step);
}

/** The problem, or a clear error when the study cannot give one. */
export function gradientOf(ctx: OptimizerContext, name: string): GradientProblem {
  if (!ctx.gradient) fail('SEARCH_E_OPTIMIZER', noGradientMessage(name));
  return ctx.gradient;
}

export function noGradientMessage(name: string): string {
  return `${name} needs an in-memory zoo (it differentiates the merged model's loss with respect to the coefficients); it cannot search checkpoints scored by a command: use cmaes, nsga2, random or map there`;
}

