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

/** Kept here for the modules that ask the registry; it lives in ../closest-name.ts. */
export { closestName } from '../closest-name.ts';
