// `mergesearch serve [--db FILE] [--host 127.0.0.1] [--port 8080] [--token T] [--out-root DIR]
// [--allow-command-launch] [--max-launches N]`: the report page and its JSON API over the studies
// in --db (see src/server/; the trust model is in the README's "Who can do what" section).
import type { Command } from 'commander';
import os from 'node:os';
import path from 'node:path';
import { fail } from '../errors.ts';
import { parseLocation } from '../study/index.ts';
import { buildApp } from '../server/app.ts';
import { checkServeHost } from '../server/auth.ts';
import { DEFAULT_MAX_LAUNCHES } from '../server/launches.ts';
import { intArg } from './merge.ts';
import { DEFAULT_DB } from './search.ts';

interface ServeOptions {
  db: string;
  host: string;
  port: string;
  token?: string;
  outRoot?: string;
  allowCommandLaunch?: boolean;
  maxLaunches: string;
}

/** A listen failure (a host name that does not resolve, a port in use) as a coded error. */
export function listenError(e: unknown, host: string, port: number): never {
  const code = (e as NodeJS.ErrnoException).code;
  const why: Record<string, string> = {
    ENOTFOUND: `the host name ${host} does not resolve to an address of this machine; give an IP address such as 127.0.0.1`,
    EAI_AGAIN: `the host name ${host} could not be looked up (DNS unavailable); give an IP address such as 127.0.0.1`,
    EADDRINUSE: `port ${port} on ${host} is in use by another program; give another --port (0 picks a free one)`,
    EADDRNOTAVAIL: `${host} is not an address of this machine; give one of its addresses, such as 127.0.0.1`,
    EACCES: `listening on port ${port} needs privileges this user lacks; give a port above 1023`,
  };
  const reason = (code && why[code]) ?? `${(e as Error).message}`;
  return fail('SERVER_E_LISTEN', `serve cannot listen on ${host}:${port}: ${reason}`);
}

/** The URL to open: the host as given (a wildcard address becomes this machine's name). */
export function serveUrl(host: string, port: number, token: string | undefined): string {
  const shown = host === '0.0.0.0' || host === '::' ? os.hostname() : host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `http://${shown}:${port}/${token ? `?token=${encodeURIComponent(token)}` : ''}`;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve the report page (Pareto front, history, trials) and its JSON API for the studies in --db')
    .option('--db <file|url>', 'where the studies are: a SQLite file, or a postgres://user@host/db URL', DEFAULT_DB)
    .option('--host <host>', 'address to listen on; anything but loopback needs --token', '127.0.0.1')
    .option('--port <n>', 'port (0: any free port)', '8080')
    .option('--token <token>', 'require Authorization: Bearer TOKEN on the API (default: $MERGESEARCH_TOKEN)')
    .option('--out-root <dir>', 'exports and launched study configs are written under this folder only (default: the working folder)')
    .option('--allow-command-launch', 'let POST /api/launch start studies scored by shell commands (anyone who can call the API can then run commands as you)')
    .option('--max-launches <n>', 'launched searches running at once, at most', String(DEFAULT_MAX_LAUNCHES))
    .action(async (o: ServeOptions) => {
      const port = intArg(o.port, '--port', 0);
      const maxLaunches = intArg(o.maxLaunches, '--max-launches', 1);
      const token = o.token ?? (process.env.MERGESEARCH_TOKEN || undefined);
      checkServeHost(o.host, token);
      const app = await buildApp({
        db: o.db,
        token,
        host: o.host,
        outputRoot: path.resolve(o.outRoot ?? process.cwd()),
        logger: true,
        allowCommandLaunch: o.allowCommandLaunch === true,
        maxLaunches,
      });
      try {
        await app.listen({ host: o.host, port });
      } catch (e) {
        await app.close();
        listenError(e, o.host, port);
      }
      const address = app.server.address();
      const actual = typeof address === 'object' && address ? address.port : port;
      const where = parseLocation(o.db);
      process.stdout.write(`mergesearch report for ${where.kind === 'sqlite' ? where.file : where.label} at ${serveUrl(o.host, actual, token)}\n`);
      process.stdout.write(`exports and launches are written under ${app.ctx.outputRoot}; Ctrl-C stops the server (and asks launched searches to stop)\n`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void app.close().then(resolve, resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
