// Every failure leaves the API as `{ error: { code, message } }`. A coded error is the user's to
// fix, so its message goes out as it is with a 4xx status (503 where the study database itself is
// unusable); schema and body errors are 400/413 with fastify's message; anything else is a bug: the
// client gets a 500 with no detail, the log gets the stack. Messages name what the caller sent, not
// where the server keeps things: the server's own absolute paths (database, output root, working
// folder, home) are replaced by <db>, <out-root>, <cwd> and ~ (`redactPaths`).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseLocation } from '../study/index.ts';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MergeSearchError, type ErrorCode } from '../errors.ts';

const EXACT: Partial<Record<ErrorCode, number>> = {
  STUDY_E_NOT_FOUND: 404,
  SERVER_E_NOT_FOUND: 404,
  SERVER_E_AUTH: 401,
  SERVER_E_PATH: 400,
  SERVER_E_REQUEST: 400,
  SERVER_E_LAUNCH: 409,
  SERVER_E_COMMAND: 403,
  STUDY_E_BUSY: 409,
  IO_E_OUTPUT_EXISTS: 409,
  CLI_E_ARG: 400,
  EVAL_E_UNKNOWN: 400,
  MODEL_E_PARAMS: 400,
  STUDY_E_OPEN: 503,
  STUDY_E_VERSION: 503,
  STUDY_E_WRITE: 503,
};

/** The HTTP status of a coded error. */
export function statusOf(code: ErrorCode): number {
  const exact = EXACT[code];
  if (exact !== undefined) return exact;
  if (code.endsWith('_E_EXISTS')) return 409;
  if (code.startsWith('CONFIG_E_') || code.startsWith('RECIPE_E_') || code.startsWith('SEARCH_E_')) return 400;
  if (code.startsWith('ENGINE_E_')) return 503;
  // IO_E_*, MERGE_E_*, EVAL_E_*: the request was fine, the files it needs are not (missing
  // checkpoints, a merge that fails); the message says which.
  return 422;
}

export const INTERNAL_MESSAGE = 'internal error; see the server log';

function send(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.status(status).type('application/json; charset=utf-8').send({ error: { code, message } });
}

/** Server paths to hide in messages, most specific first: [path, placeholder]. */
export function serverPaths(o: { db: string; outputRoot: string }): Array<[string, string]> {
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return p;
    }
  };
  const pairs: Array<[string, string]> = [];
  // A postgres:// database shows as <db> too, in the redacted form the store's messages use.
  const where = parseLocation(o.db);
  if (where.kind === 'postgres') pairs.push([where.label, '<db>'], [where.url, '<db>']);
  for (const [p, label] of [
    [o.db, '<db>'],
    [o.outputRoot, '<out-root>'],
    ...(where.kind === 'sqlite' ? ([[path.dirname(o.db), '<db folder>']] as const) : []),
    [process.cwd(), '<cwd>'],
    [os.homedir(), '~'],
  ] as const) {
    for (const v of new Set([p, real(p)])) if (v.length > 1 && !pairs.some(([q]) => q === v)) pairs.push([v, label]);
  }
  return pairs.sort((a, b) => b[0].length - a[0].length);
}

/** `message` with every server path replaced by its placeholder. */
export function redactPaths(message: string, paths: Array<[string, string]>): string {
  let out = message;
  for (const [p, label] of paths) out = out.split(p).join(label);
  return out;
}

export function registerErrorHandler(app: FastifyInstance, paths: Array<[string, string]> = []): void {
  app.setErrorHandler((err: FastifyError | MergeSearchError | Error, req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof MergeSearchError) {
      const status = (err as MergeSearchError & { statusCode?: number }).statusCode ?? statusOf(err.code);
      // The code is in the body's own field; the message drops the "CODE: " prefix the CLI prints.
      const message = err.message.startsWith(`${err.code}: `) ? err.message.slice(err.code.length + 2) : err.message;
      return send(reply, status, err.code, redactPaths(message, paths));
    }
    const fe = err as FastifyError;
    if (fe.validation) return send(reply, 400, 'SERVER_E_REQUEST', fe.message);
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      return send(reply, fe.statusCode, 'SERVER_E_REQUEST', fe.message);
    }
    req.log.error({ err }, `internal error on ${req.method} ${req.url}`);
    return send(reply, 500, 'SERVER_E_INTERNAL', INTERNAL_MESSAGE);
  });
}

const API_ROUTES = 'the API has /api/studies, /api/studies/NAME, .../trials, .../trials.csv, .../pareto, .../trials/N, .../trials/N/export, /api/launch';

/** The 404 answer for a path nothing serves (the caller's own path, no more). */
export function sendNotFound(reply: FastifyReply, req: FastifyRequest): FastifyReply {
  const p = req.url.split('?')[0] ?? '';
  const shown = p.length > 200 ? `${p.slice(0, 200)}…` : p;
  return send(reply, 404, 'SERVER_E_NOT_FOUND', `no route ${req.method} ${shown}${/^\/api(\/|$)/i.test(p) ? `; ${API_ROUTES}` : ''}`);
}

/**
 * Unknown paths: a guarded catch-all under /api/ (so an unknown API path needs the token like the
 * others, and lists the routes once it has it) and a 404 for requests no route matches (methods
 * other than GET/HEAD outside the API; GETs end on the page's files, static.ts).
 */
export function registerNotFound(app: FastifyInstance): void {
  app.route({ method: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'], url: '/api/*', handler: async (req, reply) => sendNotFound(reply, req) });
  app.setNotFoundHandler(async (req, reply) => sendNotFound(reply, req));
}
