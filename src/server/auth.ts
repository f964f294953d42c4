// Who may call the API. The API reads every study and can start searches and exports, so:
//  - protection is decided from the route the router matched, never from the URL text: every
//    route (and every request that matches none) needs the checks below unless the route says
//    `config: { public: true }` (the report page's files and the plotting library, which hold no
//    data). Percent-encoded segments (`/%61pi/...`), doubled slashes, `..` segments, mixed case
//    and absolute-form request targets (`GET http://host/api/...`) all end on some route or on
//    none, and both are guarded; deciding by a prefix of the raw URL let such spellings through;
//  - with a token, every guarded request must carry `Authorization: Bearer TOKEN` (a `?token=`
//    query parameter is accepted too, so plain links such as the CSV download work from the page);
//  - without a token, serve listens on loopback only (checkServeHost), and guarded requests must
//    name the address serve listens on in their Host header (`127.0.0.1:PORT` or `localhost:PORT`
//    for the default), which stops a web page from reaching the API through DNS rebinding (its
//    requests carry the attacker's host name). Cross-site form posts cannot reach it either: bodies
//    must be JSON, which a browser sends cross-origin only after a CORS preflight this server never
//    grants.
import { timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { MergeSearchError } from '../errors.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without the token and Host checks (the route must hold no data). */
    public?: boolean;
  }
}

export class HttpError extends MergeSearchError {
  constructor(code: MergeSearchError['code'], readonly statusCode: number, message: string) {
    super(code, message);
  }
}

/**
 * True for addresses that only this machine can reach, and the name `localhost`. Other names
 * (`box.localhost`, `localhost.`) are not trusted: whether they resolve to loopback is up to the
 * resolver, and listening on them needs a DNS lookup that may fail.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  if (net.isIPv6(h)) return h === '::1' || h === '0:0:0:0:0:0:0:1';
  return net.isIPv4(h) && h.startsWith('127.');
}

/** `serve` refuses to listen beyond this machine unless a token guards the API. */
export function checkServeHost(host: string, token: string | undefined): void {
  if (isLoopbackHost(host) || (token !== undefined && token !== '')) return;
  throw new MergeSearchError(
    'SERVER_E_TOKEN',
    `--host ${host} is not a loopback address (127.0.0.1, ::1 or localhost), so other machines could reach the API, which reads every study and can launch searches and exports; ` +
      'give --token TOKEN (or set MERGESEARCH_TOKEN) and open the printed URL with ?token=TOKEN, or keep the default --host 127.0.0.1',
  );
}

/**
 * The host names a token-less server answers to, given the address it listens on: that address
 * and `localhost` (which resolves to it). Undefined `listenHost` (an app not told where it
 * listens, as in tests): any loopback literal or `localhost`.
 */
export function allowedHostNames(listenHost: string | undefined): Set<string> {
  if (listenHost === undefined) return new Set(['localhost', '127.0.0.1', '[::1]']);
  const h = listenHost.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return new Set(['localhost', '127.0.0.1', '[::1]']);
  if (net.isIPv6(h)) return new Set([`[${h}]`, 'localhost']);
  return new Set([h, 'localhost']);
}

/** A Host header split into a lower-case name and a port; undefined when it is malformed. */
export function parseHostHeader(header: string | undefined): { name: string; port: number | undefined } | undefined {
  if (!header) return undefined;
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/i.exec(header);
  if (!m) return undefined;
  return { name: m[1]!.toLowerCase(), port: m[2] === undefined ? undefined : Number(m[2]) };
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
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

export interface AuthOptions {
  token?: string;
  /** The address serve listens on (the Host header must name it when there is no token). */
  listenHost?: string;
}

function checkHost(req: FastifyRequest, allowed: Set<string>): void {
  const header = req.headers.host;
  const host = parseHostHeader(header);
  // The port the connection really arrived on (absent for app.inject's fake sockets).
  const localPort = req.socket?.localPort;
  const portOk = host !== undefined && (typeof localPort !== 'number' || (host.port ?? 80) === localPort);
  if (host !== undefined && allowed.has(host.name) && portOk) return;
  const names = [...allowed].map((n) => (typeof localPort === 'number' ? `${n}:${localPort}` : n)).join(' or ');
  throw new HttpError(
    'SERVER_E_AUTH',
    403,
    `this server has no token, so it answers only requests addressed to ${names} (the Host header says ${JSON.stringify(header ?? '')}); ` +
      'open the page through the URL serve printed, or restart serve with --token TOKEN to allow other names',
  );
}

/** An onRequest hook guarding every route that is not marked public, and unmatched requests. */
export function registerAuth(app: FastifyInstance, o: AuthOptions): void {
  const token = o.token === '' ? undefined : o.token;
  const allowed = allowedHostNames(o.listenHost);
  app.addHook('onRequest', async (req) => {
    if (req.routeOptions.config?.public === true) return;
    if (!token) return checkHost(req, allowed);
    const given = tokenOf(req);
    if (given === undefined) {
      throw new HttpError('SERVER_E_AUTH', 401, 'this server needs a token: send the header `Authorization: Bearer TOKEN` (or open the page with ?token=TOKEN) with the token serve was started with');
    }
    if (!sameToken(given, token)) {
      throw new HttpError('SERVER_E_AUTH', 401, 'the token does not match the one serve was started with; send `Authorization: Bearer TOKEN` with that token');
    }
  });
}
