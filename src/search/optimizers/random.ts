// Random search: independent uniform points in the box. The baseline every other optimizer must beat,
// and the first proposal is the space's starting point by default, so a study always scores it.
import { setting } from '../optimizer.ts';
import type { Json, Optimizer, OptimizerContext } from '../optimizer.ts';
import { Rng, rngState } from '../rng.ts';

interface RandomState {
  [key: string]: Json;
  rng: number;
  asked: number;
}

function includeInit(ctx: OptimizerContext): boolean {
  return setting<boolean>(random, ctx, 'include_init');
}

const random: Optimizer<RandomState> = {
  name: 'random',
  family: 'black-box',
  multiObjective: false,
  description: 'Uniform random points within the bounds (the first one is the starting point unless include_init is false).',
  settings: [{ name: 'include_init', kind: 'boolean', default: true, doc: 'Propose the search space’s starting point first.' }],

  init(ctx) {
    return { rng: rngState(ctx.seed), asked: 0 };
  },

  ask(state, ctx) {
    if (state.asked === 0 && includeInit(ctx)) {
      return { kind: 'propose', state: { ...state, asked: 1 }, proposal: { x: [...ctx.init], tag: { index: 0 } } };
    }
    const rng = new Rng(state.rng);
    const x = ctx.low.map((lo, i) => rng.between(lo, ctx.high[i]!));
    return { kind: 'propose', state: { rng: rng.state, asked: state.asked + 1 }, proposal: { x, tag: { index: state.asked } } };
  },

  // Nothing is learned from values.
  tell(state) {
    return state;
  },
};

export default random;
