// What the results scripts keep out of, and carry over into, the RESULTS.md they write:
// - wall times go to TIMINGS.md beside it (git-ignored), so that reproducing a table leaves the
//   tracked file unchanged (`git status` clean) — times vary with the machine and its load;
// - a partial run (`--only`, `--skip-studies`) merges its rows into the table already there
//   instead of dropping the rows it did not run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fail } from '../src/errors.ts';

/** TIMINGS.md beside `resultsFile`, with this script's section (between markers) replaced. */
export function writeTimings(resultsFile: string, script: string, backend: string, lines: string[]): string {
  const file = path.join(path.dirname(resultsFile), 'TIMINGS.md');
  const start = `<!-- ${script}:start -->`;
  const end = `<!-- ${script}:end -->`;
  const section = [
    start,
    `## \`npm run ${script}\` → ${path.basename(resultsFile)}`,
    '',
    `Last run ${new Date().toISOString()} on ${os.availableParallelism()} cores (load average ${os.loadavg()[0]!.toFixed(1)}), ${backend} backend:`,
    '',
    ...lines.map((l) => `- ${l}`),
    end,
  ].join('\n');
  const previous = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Wall times of the results scripts on this machine (not tracked)\n';
  const i = previous.indexOf(start);
  const j = previous.indexOf(end);
  const next = i >= 0 && j > i ? previous.slice(0, i) + section + previous.slice(j + end.length) : `${previous.trimEnd()}\n\n${section}\n`;
  fs.writeFileSync(file, next);
  return file;
}

/** The first cell of a Markdown table row. */
export function firstCell(row: string): string {
  return row.split('|')[1]!.trim();
}

/**
 * The rows of the table whose header line is `header`: the rows of that table in `previous` (the
 * file as it was) in their order, each replaced by the new row with the same key, then the new
 * rows it did not have. `previous` without that table: the new rows. A table there with other
 * columns cannot take the rows: refused, naming the file.
 */
export function mergeTableRows(previous: string | undefined, file: string, header: string, rows: string[], key: (row: string) => string): string[] {
  if (previous === undefined) return rows;
  const lines = previous.split('\n');
  const at = lines.indexOf(header);
  if (at < 0) {
    const firstColumn = `| ${firstCell(header)} |`;
    if (lines.some((l) => l.startsWith(firstColumn))) {
      fail('CLI_E_ARG', `${file} holds a table with other columns than this script writes; run every study (no --only or --skip-studies) to rewrite it, or give --out FILE for a table of its own`);
    }
    return rows;
  }
  const old: string[] = [];
  for (let k = at + 2; k < lines.length && lines[k]!.startsWith('|'); k++) old.push(lines[k]!);
  const fresh = new Map(rows.map((r) => [key(r), r]));
  const merged = old.map((r) => fresh.get(key(r)) ?? r);
  const seen = new Set(old.map(key));
  return [...merged, ...rows.filter((r) => !seen.has(key(r)))];
}

/** Bullet notes (`- NAME: ...`) of `previous` whose NAME is not among the new notes, then the new ones. */
export function mergeNotes(previous: string[], fresh: string[]): string[] {
  const name = (n: string) => n.split(':')[0]!;
  const renamed = new Set(fresh.map(name));
  return [...previous.filter((n) => !renamed.has(name(n))), ...fresh];
}
