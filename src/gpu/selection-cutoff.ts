// TIES trimming keeps the |τ| above a threshold plus the first `admitEqual` entries equal to it in
// index order. A GPU thread cannot count the equal entries before it, so the host finds the
// element where admission stops (the cutoff): from the statistics passes' per-chunk counts it
// jumps to the one chunk holding that entry and scans only that chunk (rarely the next ones).
import type { ElementwiseKeep } from '../merge/elementwise.ts';

type TopKeep = Extract<ElementwiseKeep, { kind: 'top' }>;

/**
 * The first element index whose equal entry is no longer admitted (numel when all are).
 * `ranges` are the statistics passes' row chunks; `tau(rowStart, rowEnd)` gives τ in float32 for those rows.
 */
export function selectionCutoff(keep: TopKeep, ranges: Array<[number, number]>, cols: number, numel: number, tau: (rowStart: number, rowEnd: number) => Float32Array): number {
  if (keep.none) return 0;
  // The last chunk with no more than admitEqual equal entries before it holds the first one not admitted, if any.
  let c = 0;
  for (let j = 0; j < ranges.length; j++) if ((keep.equalBefore[j] ?? 0) <= keep.admitEqual) c = j;
  let seen = keep.equalBefore[c] ?? 0;
  for (; c < ranges.length; c++) {
    const [a, b] = ranges[c]!;
    const t = tau(a, b);
    const bits = new Uint32Array(t.buffer, t.byteOffset, t.length);
    for (let i = 0; i < bits.length; i++) {
      if ((bits[i]! & 0x7fffffff) !== keep.bits) continue;
      if (seen === keep.admitEqual) return a * cols + i;
      seen++;
    }
  }
  return numel;
}
