// The stored study identity: what --resume compares. Key order is free everywhere but in
// space.parameters (it lays out the coefficient vector), and a record from a newer version is refused.
import { describe, expect, it } from 'vitest';
import { parseStudyConfig } from '../src/search/study-config.ts';
import { changedIdentityFields, readStoredConfig, storedConfigOf } from '../src/search/study-identity.ts';
import type { StudyRow } from '../src/study/index.ts';
import { expectCode } from './helpers/io-tmp.ts';

const config = (parameters: string, extra = '') =>
  parseStudyConfig(`name: s\nzoo: mnist8\nspace: {method: ties, granularity: layer, parameters: ${parameters}${extra}}\nobjectives: {tasks: all}\noptimizer: cmaes\nbudget: {trials: 5}\n`, 's.yaml');

describe('the stored study identity', () => {
  const stored = storedConfigOf(config('{weight: {low: 0, high: 1}, density: {low: 0.1, high: 1}}', ', fixed: {normalize: false, lambda: 1}'), '/x/s.yaml');

  it('reordering keys outside space.parameters is no change; reordering space.parameters is', () => {
    expect(changedIdentityFields(stored.identity, config('{weight: {high: 1, low: 0}, density: {high: 1, low: 0.1}}', ', fixed: {lambda: 1, normalize: false}'))).toEqual([]);
    expect(changedIdentityFields(stored.identity, config('{density: {low: 0.1, high: 1}, weight: {low: 0, high: 1}}', ', fixed: {normalize: false, lambda: 1}'))).toEqual(['space']);
    expect(changedIdentityFields(stored.identity, config('{weight: {low: 0, high: 2}, density: {low: 0.1, high: 1}}', ', fixed: {normalize: false, lambda: 1}'))).toEqual(['space']);
  });

  it('reads back what it wrote; an older record without a version reads as version 1; a newer one is refused', () => {
    const row = (cfg: unknown) => ({ name: 's', config: cfg }) as unknown as StudyRow;
    const back = readStoredConfig(row(JSON.parse(JSON.stringify(stored))));
    expect(back).toEqual(stored);
    expect(readStoredConfig(row({ identity: stored.identity, budget: { trials: 3 }, source: null })).version).toBe(1);
    expectCode(() => readStoredConfig(row({ ...stored, version: 99 })), 'STUDY_E_VERSION', 'newer');
    expectCode(() => readStoredConfig(row({ budget: {} })), 'STUDY_E_NOT_FOUND', 'no stored search space');
  });
});
