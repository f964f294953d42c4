// The report page's ES modules (src/server/public/report/*.js) as ONE script, for the
// self-contained report file (report-file.ts).
//
// Why a bundle: the saved page must open from file://, where Chromium refuses
// <script type="module" src=...> (a module fetch from a file: page is cross-origin). Inlining one
// <script type="module"> per module through data: or blob: URLs would still need every import
// specifier rewritten (a relative specifier cannot resolve against a data: URL) and would lean on
// each browser's rules for such module URLs; a plain concatenation leans on nothing.
//
// How: each module becomes a function scope that returns its exports, placed after the modules it
// imports (dependencies first, the order in which ES modules evaluate), and
// `import { a, b } from './x.js';` becomes `const { a, b } = <x's exports>;`. Each module keeps its
// own top-level names, so two modules may use the same private name. The page's modules keep to
// that one import form and to `export` in front of a declaration; anything else (default or list
// exports, `import *`, renames, bare or remote specifiers, cycles, an import of a name not
// exported) throws here, so a page edit cannot silently yield a broken saved report.
import fs from 'node:fs';
import path from 'node:path';

const IDENT = /^[A-Za-z_$][\w$]*$/;
/** `import { a, b } from './x.js';` (the braces may span lines). */
const IMPORT = /^import\s*\{([^}]*)\}\s*from\s*'([^']+)';?[ \t]*$/gm;
/** `export` in front of a named declaration. */
const EXPORT = /^export\s+((?:async\s+)?function\*?|class|const|let|var)\s+([A-Za-z_$][\w$]*)/gm;

interface Module {
  /** Path relative to the bundle's root folder, with `/`. */
  rel: string;
  /** The module's text with its imports and `export` keywords taken out. */
  body: string;
  imports: Array<{ from: string; names: string[] }>;
  exports: string[];
}

function parseModule(root: string, rel: string): Module {
  const file = path.join(root, ...rel.split('/'));
  const src = fs.readFileSync(file, 'utf8');
  const where = (what: string) => `report page module ${rel}: ${what}`;
  const imports: Module['imports'] = [];
  let body = src.replace(IMPORT, (_all, list: string, spec: string) => {
    if (!spec.startsWith('./') && !spec.startsWith('../')) throw new Error(where(`imports '${spec}'; only relative imports of the page's own modules can be inlined`));
    const from = path.posix.normalize(path.posix.join(path.posix.dirname(rel), spec));
    if (from.startsWith('../')) throw new Error(where(`imports '${spec}', outside the page's folder`));
    const names = list
      .split(',')
      .map((n) => n.trim())
      .filter((n) => n !== '');
    for (const n of names) if (!IDENT.test(n)) throw new Error(where(`import '${n}' from '${spec}' is not a plain name (no renames)`));
    imports.push({ from, names });
    return '';
  });
  const exports: string[] = [];
  body = body.replace(EXPORT, (_all, kind: string, name: string) => {
    exports.push(name);
    return `${kind} ${name}`;
  });
  const left = /^\s*(import|export)\b.*$/m.exec(body) ?? /\bimport\s*(\(|\.meta)/.exec(body);
  if (left) throw new Error(where(`cannot inline "${left[0].trim()}": use import { a } from './x.js' and export in front of a declaration`));
  return { rel, body, imports, exports };
}

/** The modules `entry` reaches, dependencies before the modules that import them. */
function ordered(root: string, entry: string): Module[] {
  const out: Module[] = [];
  const done = new Map<string, Module>();
  const visiting: string[] = [];
  const visit = (rel: string): Module => {
    const seen = done.get(rel);
    if (seen) return seen;
    if (visiting.includes(rel)) throw new Error(`report page modules import each other in a cycle: ${[...visiting, rel].join(' → ')}`);
    visiting.push(rel);
    const m = parseModule(root, rel);
    for (const imp of m.imports) {
      const dep = visit(imp.from);
      for (const n of imp.names) if (!dep.exports.includes(n)) throw new Error(`report page module ${rel} imports ${n} from ${dep.rel}, which does not export it`);
    }
    visiting.pop();
    done.set(rel, m);
    out.push(m);
    return m;
  };
  visit(entry);
  return out;
}

/** The name of the constant holding a module's exports in the bundle (unique per path). */
function exportsName(rel: string): string {
  return `__module_${rel.replace(/\.js$/, '').replace(/[^\w$]/g, '_')}`;
}

/**
 * The modules reachable from `entry` (a path under `root`, such as `report/main.js`) as one
 * script. Put it in a <script type="module"> so that it runs in strict mode after the document is
 * parsed, as the module files do.
 */
export function bundleModules(root: string, entry: string): string {
  const parts = ordered(root, entry).map((m) => {
    const imports = m.imports.map((i) => `const { ${i.names.join(', ')} } = ${exportsName(i.from)};\n`).join('');
    const returned = m.exports.length ? `{ ${m.exports.join(', ')} }` : '{}';
    return `// ==== module ${m.rel} ====\nconst ${exportsName(m.rel)} = (() => {\n${imports}${m.body.trim()}\nreturn ${returned};\n})();\n`;
  });
  return parts.join('\n');
}
