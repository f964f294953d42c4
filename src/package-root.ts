// Where the package's own files are, from the running code: src/*.ts under tsx, or the compiled
// copy dist/src/*.js (npm run build). Files that are not compiled (the report page, the wasm
// kernels, the study configs under experiments/, bin/) are read from the source tree either way.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The folder holding package.json. */
export const PACKAGE_ROOT = path.resolve(here, import.meta.url.endsWith('.ts') ? '..' : '../..');

/** A path inside the package, e.g. packagePath('src', 'server', 'public'). */
export function packagePath(...parts: string[]): string {
  return path.join(PACKAGE_ROOT, ...parts);
}

/** The command-line entry point that child processes (workers, launched studies) are started with. */
export const BIN_PATH = packagePath('bin', 'mergesearch.js');
