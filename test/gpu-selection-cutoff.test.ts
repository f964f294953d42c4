// The cutoff that turns TIES' in-order admission of threshold-equal entries into a per-element
// rule (|τ| > t, or |τ| = t before the cutoff) against select.ts' own markSelected, chunk by
// chunk, on data with many ties at the threshold. CPU only.
import { describe, expect, it } from 'vitest';
import { selectionCutoff } from '../src/gpu/selection-cutoff.ts';
import { bucketMembers, finishSelection, highHistogram, markSelected, pickBucket, trivialSelection } from '../src/tensor/select.ts';
import { rng } from './helpers/io-tmp.ts';

function check(values: Float32Array, cols: number, rowsPerChunk: number, m: number): { equalKept: number; cutoff: number } {
  const rows = values.length / cols;
  const ranges: Array<[number, number]> = [];
  for (let a = 0; a < rows; a += rowsPerChunk) ranges.push([a, Math.min(rows, a + rowsPerChunk)]);
  const chunk = ([a, b]: [number, number]) => values.subarray(a * cols, b * cols);
  const bucket = pickBucket(ranges.map((r) => highHistogram(chunk(r))), m);
  const sel = trivialSelection(m, values.length) ?? finishSelection(m, bucket, ranges.map((r) => bucketMembers(chunk(r), bucket.bucket)));
  const keep = { kind: 'top' as const, bits: sel.bits, admitEqual: sel.admitEqual, equalBefore: sel.equalBefore, none: sel.none };
  const cutoff = selectionCutoff(keep, ranges, cols, values.length, (a, b) => values.slice(a * cols, b * cols));
  const bits = new Uint32Array(values.buffer);
  let kept = 0;
  let equalKept = 0;
  ranges.forEach((r, c) => {
    const mask = new Uint8Array(chunk(r).length);
    markSelected(chunk(r), sel, c, mask);
    mask.forEach((want, i) => {
      const e = r[0] * cols + i;
      const a = bits[e]! & 0x7fffffff;
      const rule = sel.all ? 1 : sel.none ? 0 : +(a > sel.bits || (a === sel.bits && e < cutoff));
      if (rule !== want) throw new Error(`element ${e}: the cutoff rule says ${rule}, markSelected ${want}`);
      kept += want;
      if (want && a === sel.bits) equalKept++;
    });
  });
  expect(kept).toBe(Math.min(m, values.length));
  return { equalKept, cutoff };
}

describe('TIES selection cutoff', () => {
  it('matches markSelected for every element, over many chunks and thresholds', () => {
    const r = rng(8);
    // Values on a coarse grid: a few hundred distinct magnitudes over 60k entries, so thousands tie.
    const cols = 37;
    const values = Float32Array.from({ length: cols * 1700 }, () => (Math.floor(r() * 600) - 300) / 64);
    let straddled = 0;
    for (const m of [1, 500, 12_345, 30_000, 59_000, values.length - 1]) {
      for (const rowsPerChunk of [1700, 211, 17, 1]) {
        const { equalKept, cutoff } = check(values, cols, rowsPerChunk, m);
        if (equalKept > 0 && cutoff < values.length) straddled++;
      }
    }
    expect(straddled).toBeGreaterThan(10); // the admission really stopped inside the tensor
  });

  it('keeps nothing for density 0 and everything for density 1 (kept counts asserted in check)', () => {
    const values = Float32Array.from({ length: 100 }, (_, i) => i - 50);
    expect(check(values, 10, 3, 0)).toEqual({ equalKept: 0, cutoff: 0 });
    check(values, 10, 3, 100);
  });
});
