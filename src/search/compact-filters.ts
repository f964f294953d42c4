// The shortest filter list (mergekit's "first entry whose filter is a substring of the tensor
// name wins") that gives every tensor its value, built over the tree of dotted name parts: each
// subtree takes its most useful value as a default (one entry for its prefix, `heads.`), and
// only the subtrees that differ get entries of their own, placed before it (`heads.plain.`).
// Eight per-head routing weights then take two entries instead of eight. The result is checked
// by evaluating it for every tensor; a list that would give any tensor another value is not used.
import { evaluateSetting, layerPosition, type FilterEntry, type Scalar, type Setting } from '../merge/parameters.ts';

/** Stands for "the last entry's value" (tensors a gradient over the layers gives theirs). */
const TAIL = Symbol('tail');
type Target = Scalar | typeof TAIL;

interface Node {
  /** Name parts from the root down to this node. */
  parts: string[];
  children: Map<string, Node>;
  /** The tensor named exactly by this node's parts, if any. */
  tensor?: string;
  /** Every tensor in this subtree, in the order first given. */
  names: string[];
}

/**
 * A filter list for `values` (every tensor the setting applies to, in checkpoint order) ending in
 * an entry without filter, or undefined when the tree gives no faithful list. With `tail`, the
 * tensors of `tail.domain` missing from `values` take the value of the last entry, `tail.value`
 * (a gradient over the layers): no entry before it may match them.
 */
export function compactFilters(values: ReadonlyMap<string, Scalar>, numLayers: number, tail?: { value: Setting; domain: ReadonlyMap<string, Scalar> }): FilterEntry[] | undefined {
  const domain = tail?.domain ?? values;
  const targets = new Map<string, Target>([...domain.keys()].map((n) => [n, values.has(n) ? values.get(n)! : TAIL]));
  const root: Node = { parts: [], children: new Map(), names: [] };
  for (const name of targets.keys()) {
    let node = root;
    node.names.push(name);
    for (const part of name.split('.')) {
      let child = node.children.get(part);
      if (!child) {
        child = { parts: [...node.parts, part], children: new Map(), names: [] };
        node.children.set(part, child);
      }
      child.names.push(name);
      node = child;
    }
    node.tensor = name;
  }
  const list = tail ? [...emit(root, targets, true), { value: tail.value }] : emit(root, targets, true);
  return faithful(list, domain, numLayers) ? list : undefined;
}

/** True when `setting` evaluates to exactly `values` for every tensor. */
export function faithful(setting: Setting, values: ReadonlyMap<string, Scalar>, numLayers: number): boolean {
  for (const [name, v] of values) if (evaluateSetting(name, setting, layerPosition(name, numLayers)) !== v) return false;
  return true;
}

/**
 * Entries for a subtree, most specific first, ending with the subtree's own entry (its prefix and
 * default value; no filter at the root). A subtree holding tensors that must fall through to the
 * last entry gets no entry of its own: it would catch them.
 */
function emit(node: Node, targets: ReadonlyMap<string, Target>, isRoot: boolean): FilterEntry[] {
  const entry = (value: Scalar): FilterEntry => (isRoot ? { value } : { filter: filterOf(node), value });
  const counts = new Map<Target, number>();
  for (const n of node.names) counts.set(targets.get(n)!, (counts.get(targets.get(n)!) ?? 0) + 1);
  const only = counts.size === 1 ? targets.get(node.names[0]!)! : undefined;
  if (only !== undefined) return only === TAIL ? [] : [entry(only)];
  // Parts below this node: its children, and a tensor named exactly by the node (a leaf of its own).
  const parts: Array<{ uniform: Target | undefined; entries: FilterEntry[] }> = [];
  if (node.tensor !== undefined) {
    const v = targets.get(node.tensor)!;
    parts.push({ uniform: v, entries: v === TAIL ? [] : [{ filter: node.tensor, value: v }] });
  }
  for (const child of node.children.values()) {
    const first = targets.get(child.names[0]!)!;
    const uniform = child.names.every((n) => targets.get(n) === first) ? first : undefined;
    parts.push({ uniform, entries: emit(child, targets, false) });
  }
  if (counts.has(TAIL)) return parts.flatMap((p) => p.entries);
  // The default that leaves the fewest entries; the most frequent values are the candidates.
  const candidates = [...counts].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([v]) => v as Scalar);
  let best: FilterEntry[] | undefined;
  for (const d of candidates) {
    const list = parts.filter((p) => p.uniform !== d).flatMap((p) => p.entries);
    if (!best || list.length + 1 < best.length) best = [...list, entry(d)];
  }
  return best!;
}

/** A subtree's filter: its dotted prefix with the trailing dot (`heads.plain.` does not match `heads.plain2.`); a lone tensor's full name. */
function filterOf(node: Node): string {
  return node.children.size === 0 ? node.tensor! : `${node.parts.join('.')}.`;
}
