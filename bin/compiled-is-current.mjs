// Whether dist/ (npm run build) may run instead of the TypeScript sources: it was built (its stamp
// exists, written last by bin/compile.mjs) and no .ts file under src/ or evaluators/ changed after
// the stamp's time. Costs a stat per source file (a few milliseconds).
import fs from 'node:fs';
import path from 'node:path';

export const COMPILED_DIRS = ['src', 'evaluators'];

export function compiledIsCurrent(root) {
  let built;
  try {
    built = fs.statSync(path.join(root, 'dist', 'build-stamp.json')).mtimeMs;
  } catch {
    return false;
  }
  const newer = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() ? newer(p) : e.name.endsWith('.ts') && fs.statSync(p).mtimeMs > built) return true;
    }
    return false;
  };
  return !COMPILED_DIRS.some((d) => fs.existsSync(path.join(root, d)) && newer(path.join(root, d)));
}
