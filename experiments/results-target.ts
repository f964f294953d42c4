// Where a results script reads its zoo and writes its table. Without --zoo (or with the built-in
// zoo's name or default folder) it is the built-in zoo, built when missing, and the tracked
// experiments/<family>/RESULTS.md with its hand-written observations. With --zoo DIR it is that
// zoo, which must exist, and DIR/RESULTS.md: the tracked file (whose prose describes the built-in
// zoo's numbers) is never overwritten with another zoo's. --out FILE overrides the file either way.
import fs from 'node:fs';
import path from 'node:path';
import { fail } from '../src/errors.ts';
import { builtinZooAt, builtinZooDir, ensureZoo, isBuiltinZoo, missingZooAdvice } from '../src/zoo/registry.ts';

export interface ResultsTarget {
  zooDir: string;
  /** The built-in zoo: the tracked RESULTS.md, with the prose and observations written for it. */
  builtin: boolean;
  /** The Markdown file to write. */
  out: string;
  /** How to run this script again for the same zoo and file (for the file's header). */
  command: string;
}

/** The value after `name` in `args`, if the flag is given (a missing value is a CLI_E_ARG error). */
export function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) fail('CLI_E_ARG', `${name} needs a value`);
  return v;
}

export interface ResultsTargetOptions {
  family: 'mnist8' | 'skills4' | 'sft4';
  /** The npm script name, for the "regenerate with" line. */
  script: string;
  trackedFile: string;
  onLog?: (line: string) => void;
}

/** What --zoo and --out in `args` ask for, before any zoo is built or checked. */
export function planResultsTarget(args: string[], o: ResultsTargetOptions): ResultsTarget & { buildName?: string } {
  const zoo = option(args, '--zoo');
  const outArg = option(args, '--out');
  const builtin = zoo === undefined || zoo === o.family || builtinZooAt(zoo) === o.family;
  // A built-in zoo (the family's own, or another built-in name such as mnist8-tiny) is looked up
  // in zoo/NAME and built there when missing; any other --zoo is a folder, used as given.
  const buildName = builtin ? o.family : isBuiltinZoo(zoo) && !fs.existsSync(zoo) ? zoo : undefined;
  const zooDir = buildName !== undefined ? builtinZooDir(buildName) : zoo!;
  const out = outArg ?? (builtin ? o.trackedFile : path.join(zooDir, 'RESULTS.md'));
  const flags = [zoo !== undefined && !builtin ? `--zoo ${zoo}` : '', outArg !== undefined ? `--out ${outArg}` : ''].filter(Boolean).join(' ');
  return { zooDir, builtin, out, command: `npm run ${o.script}${flags ? ` -- ${flags}` : ''}`, buildName };
}

/** planResultsTarget, then the zoo: a built-in one built when missing, any other checked to exist. */
export function resultsTarget(args: string[], o: ResultsTargetOptions): ResultsTarget {
  const { buildName, ...target } = planResultsTarget(args, o);
  if (buildName !== undefined) ensureZoo(buildName, { onLog: o.onLog });
  else if (!fs.existsSync(path.join(target.zooDir, 'manifest.json'))) {
    fail('IO_E_NOT_FOUND', `no zoo at ${target.zooDir} (${path.join(target.zooDir, 'manifest.json')} is missing); ${missingZooAdvice(target.zooDir)}`);
  }
  return target;
}
