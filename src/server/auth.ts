// Who may call the API. The API reads every study and can start searches and exports (a launched
// config may run its objective commands), so:
//  - with a token, every /api/ request must carry `Authorization: Bearer TOKEN` (a `?token=` query
//    parameter is accepted too, so plain links such as the CSV download work from the page);
//  - without a token, serve listens on loopback only (checkServeHost), and /api/ answers only
//    requests addressed to a loopback name (Host header), which stops a web page from reaching the
//    API through DNS rebinding. Cross-site form posts cannot reach it either: bodies must be JSON,
//    which a browser sends cross-origin only after a CORS preflight this server never grants.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { MergeSearchError } from '../errors.ts';

export class HttpError extends MergeSearchError {
  constructor(code: MergeSearchError['code'], readonly statusCode: number, message: string) {
    super(code, message);
  }
}

const LOOPBACK_NAMES = new Set(['localhost', '::1', '[::1]', '0:0:0:0:0:0:0:1']);

/** True for names and addresses that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase();
  if (LOOPBACK_NAMES.has(h) || h.endsWith('.localhost')) return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return m !== null && m.slice(1).every((p) => Number(p) <= 255);
}

/** `serve` refuses to listen beyond this machine unless a token guards the API. */
export function checkServeHost(host: string, token: string | undefined): void {
  if (isLoopbackHost(host) || (token !== undefined && token !== '')) return;
  throw new MergeSearchError(
    'SERVER_E_TOKEN',
    `--host ${host} lets other machines reach the API, which reads every study and can launch searches (running their objective commands) and exports; ` +
      'give --token TOKEN (or set MERGESEARCH_TOKEN) and open the printed URL with ?token=TOKEN, or keep the default --host 127.0.0.1',
  );
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The host name of a Host header (`[::1]:8080` → `[::1]`, `localhost:80` → `localhost`). */
function hostName(header: string | undefined): string {
  if (!header) return '';
  if (header.startsWith('[')) return header.slice(0, header.indexOf(']') + 1);
  return header.split(':')[0] ?? '';
}

function tokenOf(req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m ? m[1] : undefined;
  }
  const q = req.query as Record<string, unknown> | undefined;
  return typeof q?.token === 'string' ? q.token : undefined;
}

export function isApiPath(url: string): boolean {
  const p = url.split('?')[0] ?? '';
  return p === '/api' || p.startsWith('/api/');
}

/** An onRequest hook guarding every /api/ route. */
export function registerAuth(app: FastifyInstance, token: string | undefined): void {
  app.addHook('onRequest', async (req) => {
    if (!isApiPath(req.url)) return;
    if (token) {
      const given = tokenOf(req);
      if (given === undefined) {
        throw new HttpError('SERVER_E_AUTH', 401, 'this server needs a token: send the header `Authorization: Bearer TOKEN` (or open the page with ?token=TOKEN) with the token serve was started with');
      }
      if (!sameToken(given, token)) {
        throw new HttpError('SERVER_E_AUTH', 401, 'the token does not match the one serve was started with; send `Authorization: Bearer TOKEN` with that token');
      }
      return;
    }
    const name = hostName(req.headers.host);
    if (!isLoopbackHost(name)) {
      throw new HttpError(
        'SERVER_E_AUTH',
        403,
        `this server has no token, so its API answers only requests addressed to localhost or 127.0.0.1 (the Host header says "${req.headers.host ?? ''}"); ` +
          'open the page through http://127.0.0.1:PORT/, or restart serve with --token TOKEN to allow other names',
      );
    }
  });
}
