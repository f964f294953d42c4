// Probe: build parts of an sft4 zoo with plan changes (experiments only).
// tsx experiments/sft4/probe/probe.ts OUT [--reuse-base DIR] [--only a,b] [--plan JSON] [--skip-base-scores]
import { initEngine } from '../../../src/tensor/engine.ts';
import { buildSft4 } from '../../../src/zoo/sft4.ts';
const args = process.argv.slice(2);
const opt = (k: string) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : undefined; };
await initEngine('wasm');
const t0 = Date.now();
buildSft4({
  out: args[0]!,
  reuseBase: opt('--reuse-base'),
  only: opt('--only') !== undefined ? opt('--only')!.split(',').filter(Boolean) : undefined,
  plan: opt('--plan') ? JSON.parse(opt('--plan')!) : undefined,
  skipBaseScores: args.includes('--skip-base-scores'),
  onLog: (l) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0)}s] ${l}\n`),
});
