// Every merge method by name, and the closest-name hint for typos.
import type { MergeMethod } from './method.ts';
import linear from './methods/linear.ts';
import taskArithmetic from './methods/task_arithmetic.ts';
import ties from './methods/ties.ts';
import dareLinear from './methods/dare_linear.ts';
import dareTies from './methods/dare_ties.ts';
import breadcrumbs from './methods/breadcrumbs.ts';
import breadcrumbsTies from './methods/breadcrumbs_ties.ts';
import della from './methods/della.ts';
import dellaLinear from './methods/della_linear.ts';
import slerp from './methods/slerp.ts';
import nuslerp from './methods/nuslerp.ts';
import modelStock from './methods/model_stock.ts';
import passthrough from './methods/passthrough.ts';
import widen from './methods/widen.ts';
import tsvM from './methods/tsv_m.ts';
import isoC from './methods/iso_c.ts';
import isoCts from './methods/iso_cts.ts';
import cart from './methods/cart.ts';
import pcb from './methods/pcb.ts';
import consensus from './methods/consensus.ts';
import wudi from './methods/wudi.ts';
import fisher from './methods/fisher.ts';
import regmean from './methods/regmean.ts';
import regmeanPlus from './methods/regmean_plus.ts';
import sce from './methods/sce.ts';
import karcher from './methods/karcher.ts';
import multislerp from './methods/multislerp.ts';
import nearswap from './methods/nearswap.ts';
import arceeFusion from './methods/arcee_fusion.ts';
import ram from './methods/ram.ts';
import ramplusTl from './methods/ramplus_tl.ts';

const ALL: MergeMethod[] = [
  linear,
  taskArithmetic,
  ties,
  dareLinear,
  dareTies,
  breadcrumbs,
  breadcrumbsTies,
  della,
  dellaLinear,
  slerp,
  nuslerp,
  modelStock,
  passthrough,
  widen,
  tsvM,
  isoC,
  isoCts,
  cart,
  pcb,
  consensus,
  wudi,
  fisher,
  regmean,
  regmeanPlus,
  sce,
  karcher,
  multislerp,
  nearswap,
  arceeFusion,
  ram,
  ramplusTl,
] as MergeMethod[];

export const METHODS: ReadonlyMap<string, MergeMethod> = new Map(ALL.map((m) => [m.name, m]));

export function methodNames(): string[] {
  return [...METHODS.keys()];
}

export function getMethod(name: string): MergeMethod | undefined {
  return METHODS.get(name);
}

/** The known name closest to `name` (edit distance after normalising case and separators). */
export function closestName(name: string, known: Iterable<string>): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-\s]/g, '_');
  const target = norm(name);
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(target, norm(k));
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return bestD <= Math.max(2, Math.floor(target.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}
