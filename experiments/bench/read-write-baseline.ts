// The benchmarks' read+write baseline: read every tensor of every input checkpoint, write the last
// one's bytes to `out` (no arithmetic), and return the input bytes moved — the floor a merge's GB/s
// is compared against in the same run.
import { Checkpoint } from '../../src/io/checkpoint.ts';
import { CheckpointWriter } from '../../src/io/checkpoint-writer.ts';

export function readWriteBaseline(dirs: readonly string[], out: string): number {
  let inputBytes = 0;
  const cs = dirs.map((d) => Checkpoint.open(d));
  const planned = [...cs[0]!.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape }));
  const w = new CheckpointWriter(out, planned, { shardSize: 5e9 });
  for (const t of planned) {
    let last: Uint8Array | undefined;
    for (const c of cs) {
      last = c.readRaw(t.name);
      inputBytes += last.length;
    }
    w.write(t.name, last!);
  }
  w.commit();
  cs.forEach((c) => c.close());
  return inputBytes;
}
