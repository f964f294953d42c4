// The trial loop over the real study store with every black-box optimizer: golden traces (the
// committed proposal sequences in test/golden/ must come out again, byte for byte), a run stopped
// and resumed in the middle proposes what an uninterrupted run does, trials left RUNNING by a dead
// worker are failed and retried with the same point, NaN candidates are recorded FAIL and the
// search goes on. Regenerate golden files (after an intended change) with UPDATE_GOLDEN=1.
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { budgetUsed, recoverInterruptedTrials, runTrials } from '../src/search/loop.ts';
import { getOptimizer, resolveSettings } from '../src/search/optimizers/index.ts';
import { StudyStore } from '../src/study/index.ts';
import { expectGolden } from './helpers/golden.ts';
import { makeTmp } from './helpers/io-tmp.ts';
import { SyntheticProblem } from './helpers/synthetic-problem.ts';
import { contextFor } from './helpers/optimizer-context.ts';

const tmp = makeTmp('ms-search-loop-');
afterAll(() => tmp.cleanup());
let dbCount = 0;

function setup(optimizerName: string, o: { seed?: number; nanAbove?: number; budget?: number } = {}) {
  const problem = new SyntheticProblem(o.nanAbove);
  const optimizer = getOptimizer(optimizerName);
  const ctx = contextFor(problem.space, problem.objectives, {
    seed: o.seed,
    budget: o.budget ?? 40,
    settings: resolveSettings(optimizer, optimizerName === 'nsga2' || optimizerName === 'cmaes' ? { population: 6 } : {}),
  });
  const store = StudyStore.open(path.join(tmp.dir, `s${dbCount++}.db`));
  const study = store.createStudy({ name: 'loop', config: {}, backend: 'cpu', seed: ctx.seed, optimizer: optimizerName, objectives: ctx.objectives });
  return { problem, optimizer, ctx, store, study };
}

async function trace(optimizerName: string, budget: number, seed = 0): Promise<number[][]> {
  const s = setup(optimizerName, { seed, budget });
  await runTrials({ ...s, budget: { trials: budget } });
  const xs = s.store.trials(s.study.id).map((t) => t.x);
  s.store.close();
  return xs;
}

const BLACK_BOX = ['random', 'grid', 'cmaes', 'nsga2', 'map'];
const round = (xs: number[][]) => xs.map((x) => x.map((v) => Number(v.toPrecision(12))));

describe.each(BLACK_BOX)('%s in the trial loop', (name) => {
  it('matches its golden trace and depends on the seed', async () => {
    const xs = round(await trace(name, 40));
    expect(xs.length).toBeGreaterThan(0);
    expectGolden(`search-${name}`, xs);
    if (name !== 'grid') expect(round(await trace(name, 40, 1))).not.toEqual(xs);
  });

  it('stopped at trial 13 and resumed, proposes exactly what an uninterrupted run does', async () => {
    const whole = await trace(name, 40);
    const s = setup(name);
    await runTrials({ ...s, budget: { trials: 13 } });
    s.store.close();
    // A new process: a new store handle and fresh optimizer objects, state only from the database.
    const again = setup(name);
    again.store.close();
    const store = StudyStore.open(s.store.file);
    await runTrials({ ...again, store, study: store.getStudy('loop'), budget: { trials: 40 } });
    expect(store.trials(store.getStudy('loop').id).map((t) => t.x)).toEqual(whole);
    store.close();
  });
});

describe('interrupted trials', () => {
  it('a RUNNING trial of a dead worker is failed, retried with the same point, and the trace is unchanged', async () => {
    const whole = await trace('cmaes', 30);
    const s = setup('cmaes');
    await runTrials({ ...s, budget: { trials: 9 } });
    // Simulate a worker killed during trial 9: ask happened (state saved, trial RUNNING), no tell.
    const ask = s.optimizer.ask(s.store.loadOptimizerState(s.study.id)!.state as never, s.ctx);
    if (ask.kind !== 'propose') throw new Error('expected a proposal');
    s.store.transaction(() => {
      s.store.saveOptimizerState(s.study.id, ask.state);
      s.store.createTrial(s.study.id, { state: 'RUNNING', worker: 'this-host-is-not-ours:1', x: ask.proposal.x, tag: { tag: ask.proposal.tag ?? null } });
    });
    const recovered = recoverInterruptedTrials(s.store, s.study, 0);
    expect(recovered.map((t) => t.number)).toEqual([9]);
    await runTrials({ ...s, budget: { trials: 30 } });
    const all = s.store.trials(s.study.id);
    expect(all[9]!.state).toBe('FAIL');
    expect(all[9]!.error).toMatch(/^interrupted/);
    expect(all[10]!.retryOf).toBe(9);
    expect(all[10]!.x).toEqual(all[9]!.x);
    // The completed trials, in order, are exactly the uninterrupted run's 30 proposals.
    const complete = all.filter((t) => t.state === 'COMPLETE').map((t) => t.x);
    expect(complete).toEqual(whole);
    s.store.close();
  });

  it('a RUNNING trial of a live worker is left alone', async () => {
    const s = setup('random');
    s.store.createTrial(s.study.id, { state: 'RUNNING', worker: `${(await import('node:os')).hostname()}:${process.ppid}`, x: [0.1, 0.2, 0.3] });
    expect(recoverInterruptedTrials(s.store, s.study)).toEqual([]);
    s.store.close();
  });
});

describe('non-finite candidates', () => {
  it('are recorded FAIL with the reason and the search goes on to its budget', async () => {
    const s = setup('random', { nanAbove: 0.6 });
    const r = await runTrials({ ...s, budget: { trials: 30 } });
    expect(r.reason).toBe('budget');
    const all = s.store.trials(s.study.id);
    expect(all.length).toBe(30);
    const failed = all.filter((t) => t.state === 'FAIL');
    expect(failed.length).toBeGreaterThan(3);
    for (const t of failed) {
      expect(t.x[0]).toBeGreaterThan(0.6);
      expect(t.error).toMatch(/SEARCH_E_NONFINITE: objective near_low is NaN/);
    }
    for (const t of all.filter((x) => x.state === 'COMPLETE')) expect(t.x[0]).toBeLessThanOrEqual(0.6);
    s.store.close();
  });

  it('CMA-ES treats them as worst and keeps improving', async () => {
    const s = setup('cmaes', { nanAbove: 0.5 });
    await runTrials({ ...s, budget: { trials: 120 } });
    const done = s.store.trials(s.study.id, { states: ['COMPLETE'] });
    const score = (v: number[]) => (-v[0]! + v[1]!) / 2;
    const first = Math.min(...done.slice(0, 10).map((t) => score(t.values!)));
    const last = Math.min(...done.slice(-10).map((t) => score(t.values!)));
    expect(last).toBeLessThan(first);
    s.store.close();
  });
});

describe('budgets', () => {
  it('stops on an evaluation budget', async () => {
    const s = setup('random');
    const r = await runTrials({ ...s, budget: { evaluations: 7 } });
    expect(r).toEqual({ reason: 'budget', trials: 7 });
    s.store.close();
  });

  it('stops on a time budget read from an injected clock (no wall time involved)', async () => {
    const s = setup('random');
    // Every reading of the clock advances it by 100 ms: the loop reads it a fixed number of times
    // per trial, so the trial count at a 3 s budget is the same on any machine.
    let t = 1_000_000;
    const now = () => (t += 100);
    const r = await runTrials({ ...s, budget: { seconds: 3 }, now });
    const used = budgetUsed(s.store, s.study);
    expect(r.reason).toBe('budget');
    expect(used.seconds).toBeGreaterThanOrEqual(3);
    expect(used.seconds).toBeLessThan(3.5);
    const again = setup('random');
    let t2 = 1_000_000;
    expect((await runTrials({ ...again, budget: { seconds: 3 }, now: () => (t2 += 100) })).trials).toBe(r.trials);
    s.store.close();
    again.store.close();
  });

  it('counts evaluations and interrupted trials with one-statement counters that add up', async () => {
    const s = setup('random');
    await runTrials({ ...s, budget: { trials: 5 } });
    // SyntheticProblem reports one evaluation per trial.
    expect(budgetUsed(s.store, s.study)).toMatchObject({ trials: 5, evaluations: 5 });
    expect(s.store.addStudyCounter(s.study.id, 'evaluations', 0.5)).toBe(5.5);
    expect(s.store.addStudyCounter(s.study.id, 'fresh', 0.1)).toBe(0.1);
    expect(s.store.addStudyCounter(s.study.id, 'fresh', 0.2)).toBe(0.1 + 0.2);
    expect(() => s.store.addStudyCounter(s.study.id, 'fresh', NaN)).toThrow(/not a finite number/);
    s.store.close();
  });

  it('grid stops when exhausted', async () => {
    const s = setup('grid', { budget: 8 });
    const r = await runTrials({ ...s, budget: { trials: 100 } });
    expect(r.reason).toBe('done');
    expect(s.store.countTrials(s.study.id)).toBe(8);
    s.store.close();
  });
});
