// The evaluator registry: names, directions, label needs, and scores routed to the scorers.
import { describe, expect, it } from 'vitest';
import { EVALUATORS, evaluatorNames, getEvaluator, isEvaluatorName } from '../evaluators/index.ts';
import { MergeSearchError } from '../src/errors.ts';

const LOGITS = Float32Array.from([2, 1, 0, 0, 0, 5]);
const LABELS = [0, 1];

describe('EVALUATORS', () => {
  it('lists accuracy, cross_entropy and entropy with their directions and label needs', () => {
    expect(evaluatorNames()).toEqual(['accuracy', 'cross_entropy', 'entropy']);
    expect(Object.values(EVALUATORS).map((e) => [e.name, e.needsLabels, e.direction])).toEqual([
      ['accuracy', true, 'maximize'],
      ['cross_entropy', true, 'minimize'],
      ['entropy', false, 'minimize'],
    ]);
    for (const name of evaluatorNames()) expect(EVALUATORS[name].name).toBe(name);
  });

  it('scores through the registry', () => {
    expect(EVALUATORS.accuracy.score(LOGITS, LABELS, 3)).toBe(0.5);
    const ce = (Math.log(Math.exp(2) + Math.exp(1) + 1) - 2 + Math.log(2 + Math.exp(5))) / 2;
    expect(EVALUATORS.cross_entropy.score(LOGITS, LABELS, 3)).toBeCloseTo(ce, 12);
    expect(EVALUATORS.entropy.score(new Float32Array(4), undefined, 4)).toBeCloseTo(Math.log(4), 12);
    expect(() => EVALUATORS.accuracy.score(LOGITS, undefined, 3)).toThrow(/accuracy needs labels/);
  });

  it('looks names up without falling into the prototype, and names the choices on a miss', () => {
    expect(getEvaluator('entropy')).toBe(EVALUATORS.entropy);
    expect(isEvaluatorName('toString')).toBe(false);
    expect(() => getEvaluator('constructor')).toThrow(MergeSearchError);
    expect(() => getEvaluator('acc')).toThrow(/unknown evaluator "acc"; use one of accuracy, cross_entropy, entropy/);
  });
});
