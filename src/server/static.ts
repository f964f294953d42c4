// The report page's files (src/server/public/ unless told otherwise), served at `/` without a
// token (they hold no data; the page reads its token from its own URL and sends it to /api/).
// A small handler instead of @fastify/static: GET and HEAD only, files directly under the folder
// or its sub-folders, no dot-files, no listing, no path leaving the folder (links included).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyReply, FastifyRequest } from 'fastify';

export const DEFAULT_PUBLIC_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'public');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
};

const NO_PAGE = `<!doctype html><meta charset="utf-8"><title>mergesearch</title>
<p>The report page is not installed in this copy of mergesearch. The JSON API answers at
<a href="/api/studies">/api/studies</a>.</p>`;

/** Whether `file` (already resolved) lies inside `dir` after following links. */
function within(dir: string, file: string): boolean {
  try {
    const realDir = fs.realpathSync(dir);
    const real = fs.realpathSync(file);
    const rel = path.relative(realDir, real);
    return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
  } catch {
    return false;
  }
}

/** A not-found fallback that serves `publicDir`; undefined when there is no such file. */
export function staticFiles(publicDir: string) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    let rel: string;
    try {
      rel = decodeURIComponent((req.url.split('?')[0] ?? '/').replace(/^\/+/, ''));
    } catch {
      return undefined;
    }
    if (rel === '' || rel.endsWith('/')) rel += 'index.html';
    const parts = rel.split('/');
    if (rel.includes('\0') || rel.includes('\\') || parts.some((p) => p === '' || p === '..' || p.startsWith('.'))) return undefined;
    const file = path.join(publicDir, ...parts);
    if (!fs.existsSync(file)) {
      if (rel === 'index.html') return reply.type('text/html; charset=utf-8').send(NO_PAGE);
      return undefined;
    }
    if (!fs.statSync(file).isFile() || !within(publicDir, file)) return undefined;
    const type = TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
    // The page is small and changes with the installed version: always revalidate.
    reply.header('cache-control', 'no-cache').type(type);
    return reply.send(fs.createReadStream(file));
  };
}
