// The report page's files (src/server/public/ unless told otherwise), served at `/` without a
// token (they hold no data; the page reads its token from its own URL and sends it to /api/).
// A small handler instead of @fastify/static: GET and HEAD only, files directly under the folder
// or its sub-folders, no dot-files, no listing, no path leaving the folder (links included). It is
// a route of its own (not a not-found fallback) so that it can be marked public and answers once.
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { packagePath } from '../package-root.ts';
import { sendNotFound } from './error-handler.ts';

export const DEFAULT_PUBLIC_DIR = packagePath('src', 'server', 'public');

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

/** The file under `publicDir` that `url` names, or undefined when there is none to serve. */
export function publicFile(publicDir: string, url: string): { file: string; rel: string } | undefined {
  let rel: string;
  try {
    rel = decodeURIComponent((url.split('?')[0] ?? '/').replace(/^\/+/, ''));
  } catch {
    return undefined;
  }
  if (rel === '' || rel.endsWith('/')) rel += 'index.html';
  const parts = rel.split('/');
  if (rel.includes('\0') || rel.includes('\\') || parts.some((p) => p === '' || p === '..' || p.startsWith('.'))) return undefined;
  return { file: path.join(publicDir, ...parts), rel };
}

/**
 * GET (and HEAD) `/*`: the page's files, public (no token: they hold no data). Routes with a more
 * specific path (the API) win over this wildcard; anything it cannot serve is a 404.
 */
export function staticFiles(publicDir: string): FastifyPluginAsync {
  return async (app) => {
    app.get('/*', { config: { public: true } }, async (req, reply) => {
      const found = publicFile(publicDir, req.url);
      if (found && !fs.existsSync(found.file) && found.rel === 'index.html') return reply.type('text/html; charset=utf-8').send(NO_PAGE);
      if (!found || !fs.existsSync(found.file) || !fs.statSync(found.file).isFile() || !within(publicDir, found.file)) {
        return sendNotFound(reply, req);
      }
      const type = TYPES[path.extname(found.file).toLowerCase()] ?? 'application/octet-stream';
      // The page is small and changes with the installed version: always revalidate.
      reply.header('cache-control', 'no-cache').type(type);
      return reply.send(fs.createReadStream(found.file));
    });
  };
}
