// The built-in zoos' names and default folders, and what to tell a user whose zoo folder is
// missing: the build command only when the folder is a built-in zoo's default location (a path the
// user chose is printed as given, with no guess at what should have been built there).
import path from 'node:path';

export const BUILTIN_ZOO_NAMES = ['mnist8', 'mnist8-tiny', 'skills4', 'skills4-tiny'] as const;

export function isBuiltinZooName(name: string): boolean {
  return (BUILTIN_ZOO_NAMES as readonly string[]).includes(name);
}

/** Where a built-in zoo is built by default (relative to the working folder). */
export function builtinZooDir(name: string): string {
  return path.join('zoo', name);
}

/** The built-in zoo whose default folder `dir` is (zoo/mnist8-tiny → mnist8-tiny), if any. */
export function builtinZooAt(dir: string): string | undefined {
  return BUILTIN_ZOO_NAMES.find((name) => path.resolve(builtinZooDir(name)) === path.resolve(dir));
}

/** The advice ending a "no zoo at DIR" message. */
export function missingZooAdvice(dir: string): string {
  const name = builtinZooAt(dir);
  if (name === undefined) return 'check the path: a zoo folder holds the manifest.json that `mergesearch zoo build` writes';
  const [family, tiny] = name.split('-');
  return `build it with: mergesearch zoo build ${family}${tiny ? ' --tiny' : ''}`;
}
