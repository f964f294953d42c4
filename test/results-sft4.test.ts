// The sft4 claims script (experiments/sft4/claims.ts) on a tiny language-model zoo with roles: the
// DARE and SFT-merging tables have the rows and columns the script promises, the DARE table's
// p = 0 cells are each expert's own exact match computed independently (skills4-eval's scorer on the
// expert's folder, not the merge code), retention cells are merged / own, a partial run keeps the
// other sections, and a zoo without roles is refused with a coded error naming the manifest.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scoreSkills } from '../src/zoo/skills4-eval.ts';
import { makeTmp } from './helpers/io-tmp.ts';
import { copyTinyZoo, TINY_SKILLS4_FAST } from './helpers/tiny-zoos.ts';

const tmp = makeTmp('ms-results-sft4-');
afterAll(() => tmp.cleanup());
const run = promisify(execFile);
const SCRIPT = path.join('experiments', 'sft4', 'claims.ts');

let zooDir = '';
let plainDir = '';

/** Run the claims script; resolves with the exit code and its output. */
async function claims(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', SCRIPT, ...args], { maxBuffer: 64 << 20, env: { ...process.env, CI: 'true' } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** The rows of the Markdown table that starts with `headerStart` in `text` (header and separator excluded). */
function tableRows(text: string, headerStart: string): string[][] {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.startsWith(headerStart));
  expect(at, `a table starting with ${headerStart}`).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (let k = at + 2; k < lines.length && lines[k]!.startsWith('|'); k++) rows.push(lines[k]!.split('|').slice(1, -1).map((c) => c.trim()));
  return rows;
}

beforeAll(async () => {
  // A tiny skills4 zoo given sft4's manifest fields: add and reverse are the SFT experts, lookup the
  // "continued-pretraining" one (sort stays unlabelled as irrelevant).
  plainDir = await copyTinyZoo(TINY_SKILLS4_FAST, path.join(tmp.dir, 'plain'));
  zooDir = await copyTinyZoo(TINY_SKILLS4_FAST, path.join(tmp.dir, 'roles'));
  const file = path.join(zooDir, 'manifest.json');
  const m = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  Object.assign(m, {
    roles: { add: 'sft', reverse: 'sft', sort: 'irrelevant', lookup: 'pt' },
    expertTask: { add: 'add', reverse: 'reverse', sort: null, lookup: 'lookup' },
    defaultExperts: ['add', 'reverse'],
  });
  fs.writeFileSync(file, JSON.stringify(m, null, 1));
}, 600_000);

describe('sft4 claims script', () => {
  it('DARE and merging tables: structure, p = 0 equals the expert scored directly, retention = merged / own', async () => {
    const out = path.join(tmp.dir, 'RESULTS.md');
    const r = await claims(['--zoo', zooDir, '--out', out, '--only', 'dare,merge', '--samples', 'all', '--learned-margin', '-1']);
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const text = fs.readFileSync(out, 'utf8');
    expect(text).toContain('<!-- claim:dare:start -->');
    expect(text).toContain('<!-- claim:merge:end -->');
    expect(text).not.toContain('claim:widen');

    // DARE: one row per (SFT or PT expert, rescale), columns expert, role, task, rescale, base, six p.
    const dare = tableRows(text, '| expert | role | task | rescale |');
    expect(dare.map((c) => `${c[0]}/${c[3]}`)).toEqual(['add', 'reverse', 'lookup'].flatMap((e) => ['1/(1−p)', 'L1 (mergekit)', 'none'].map((r) => `${e}/${r}`)));
    for (const c of dare) expect(c).toHaveLength(11);
    // p = 0 is the expert itself: the test split's exact match as skills4-eval scores the expert's
    // folder (all 128 prompts; cells are % with one decimal).
    const direct = new Map<string, number>();
    for (const e of ['add', 'reverse', 'lookup']) {
      const s = scoreSkills(path.join(zooDir, 'experts', e), zooDir, 'test').find((x) => x.task === e)!;
      direct.set(e, s.exactMatch);
    }
    const baseDirect = scoreSkills(path.join(zooDir, 'base'), zooDir, 'test');
    for (const c of dare) {
      expect(Number(c[5]), `${c[0]} ${c[3]} p = 0`).toBeCloseTo(100 * direct.get(c[0]!)!, 1);
      expect(Number(c[4]), `${c[0]} base`).toBeCloseTo(100 * baseDirect.find((x) => x.task === c[2])!.exactMatch, 1);
      expect(c.slice(4).every((v) => Number(v) >= 0 && Number(v) <= 100)).toBe(true);
    }

    // Merging: the two SFT experts (one subset), one row per method, cells "em (retention %)".
    const merge = tableRows(text, '| experts | merge (chosen on validation) |');
    const methods = merge.map((c) => c[1]!.split(',')[0]);
    expect(methods).toEqual(['task arithmetic', 'TIES', 'DARE-TIES', 'WIDEN', 'TSV-M', 'Iso-C', 'CART', 'WUDI', 'PCB', 'Consensus TA', 'RegMean', 'Fisher']);
    for (const c of merge) {
      expect(c[0]).toBe('add + reverse');
      expect(c).toHaveLength(7);
      const cells = [c[2]!, c[3]!].map((x) => /^([\d.]+) \(([\d.]+) %\)$/.exec(x)!);
      cells.forEach((m, i) => {
        expect(m, c[2 + i]).not.toBeNull();
        const own = 100 * direct.get(i === 0 ? 'add' : 'reverse')!;
        if (own > 0) expect(Number(m[2]), `${c[1]} retention`).toBeCloseTo((100 * Number(m[1])) / own, 0);
      });
      const min = Math.min(...cells.map((m) => Number(m[2])));
      expect(Number(c[5]!.replace(' %', ''))).toBeCloseTo(min, 1);
      expect(c[6]).toBe(min >= 90 ? 'yes' : 'no');
    }

    // A partial run replaces its own section and keeps the others.
    const r2 = await claims(['--zoo', zooDir, '--out', out, '--only', 'dare', '--samples', '16']);
    expect(r2.code, r2.stderr.slice(-2000)).toBe(0);
    const again = fs.readFileSync(out, 'utf8');
    expect(again).toContain('--only dare --samples 16');
    expect(again.slice(again.indexOf('<!-- claim:merge:start -->'))).toBe(text.slice(text.indexOf('<!-- claim:merge:start -->')));
  }, 900_000);

  it('a zoo without roles (skills4) is refused, naming its manifest; an unknown claim too', async () => {
    const r = await claims(['--zoo', plainDir, '--out', path.join(tmp.dir, 'plain.md'), '--only', 'dare']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${path.join(plainDir, 'manifest.json')} has no "roles"`);
    const bad = await claims(['--zoo', zooDir, '--out', path.join(tmp.dir, 'bad.md'), '--only', 'dares']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--only dares: no such claim; the claims are dare, merge, widen, fw, optimizers');
  }, 300_000);
});
