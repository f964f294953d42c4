// Output paths given to the API (export folders, launch configs) must stay under the server's
// output root: a client may name `merged/run-3`, never `../x`, `/etc/x`, or a path that walks
// through a symbolic link to somewhere else. The check resolves the path lexically (so `..` is
// gone before the file system sees it), then takes the real path of the deepest part that exists
// and requires it, with the not-yet-existing rest appended, to lie inside the real output root.
// (A link created between this check and the write is not caught; the API is for the owner of the
// machine, this guards against mistakes and against paths from a page, not against local users.)
import fs from 'node:fs';
import path from 'node:path';
import { MergeSearchError } from '../errors.ts';

function refuse(message: string): never {
  throw new MergeSearchError('SERVER_E_PATH', message);
}

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel !== '' && !rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel);
}

/** The deepest existing ancestor of `abs` (itself when it exists) and the parts below it. */
function existingAncestor(abs: string): { base: string; rest: string[] } {
  const rest: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      fs.lstatSync(cur);
      return { base: cur, rest };
    } catch {
      const parent = path.dirname(cur);
      if (parent === cur) return { base: cur, rest };
      rest.unshift(path.basename(cur));
      cur = parent;
    }
  }
}

/**
 * The absolute, real path for `given` (relative paths resolve against `root`), or a SERVER_E_PATH
 * error saying why it is refused. `what` names the field in messages (`out`). The root itself is
 * refused too: an export with overwrite would replace everything in it.
 */
export function confinePath(root: string, given: string, what: string): string {
  if (typeof given !== 'string' || given.trim() === '') refuse(`${what} is empty; give a folder under the output root ${root}`);
  if (given.includes('\0')) refuse(`${what} contains a NUL character`);
  let realRoot: string;
  try {
    realRoot = fs.realpathSync(root);
  } catch (e) {
    return refuse(`the output root ${root} cannot be used (${(e as Error).message}); start serve with --out-root set to an existing folder`);
  }
  const abs = path.resolve(root, given);
  const { base, rest } = existingAncestor(abs);
  let realBase: string;
  try {
    realBase = fs.realpathSync(base);
  } catch (e) {
    // A dangling link: where it points does not exist, so it cannot be checked.
    return refuse(`${what} "${given}" passes through ${base}, which cannot be resolved (${(e as Error).message})`);
  }
  const real = path.join(realBase, ...rest);
  if (inside(realRoot, real)) return real;
  const lexicallyInside = inside(path.resolve(root), abs) || inside(realRoot, abs);
  if (real === realRoot) refuse(`${what} "${given}" is the output root ${root} itself; give a folder under it, e.g. ${what === 'out' ? 'exports/trial-12' : 'sub/folder'}`);
  if (lexicallyInside) {
    refuse(`${what} "${given}" leads through a symbolic link to ${real}, outside the output root ${root}; give a folder under the output root that does not pass through links leaving it`);
  }
  return refuse(
    `${what} "${given}" resolves to ${abs}, outside the output root ${root}` +
      `${given.split(/[\\/]/).includes('..') ? ' (".." leaves it)' : path.isAbsolute(given) ? ' (absolute paths must lie under it)' : ''}; give a path under ${root}, or start serve with another --out-root`,
  );
}
