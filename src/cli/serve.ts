// `mergesearch serve [--db FILE] [--host 127.0.0.1] [--port 8080] [--token T] [--out-root DIR]`:
// the report page and its JSON API over the studies in --db (see src/server/).
import type { Command } from 'commander';
import os from 'node:os';
import path from 'node:path';
import { buildApp } from '../server/app.ts';
import { checkServeHost } from '../server/auth.ts';
import { intArg } from './merge.ts';
import { DEFAULT_DB } from './search.ts';

interface ServeOptions {
  db: string;
  host: string;
  port: string;
  token?: string;
  outRoot?: string;
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
    .option('--db <file>', 'SQLite database holding the studies', DEFAULT_DB)
    .option('--host <host>', 'address to listen on; anything but loopback needs --token', '127.0.0.1')
    .option('--port <n>', 'port (0: any free port)', '8080')
    .option('--token <token>', 'require Authorization: Bearer TOKEN on the API (default: $MERGESEARCH_TOKEN)')
    .option('--out-root <dir>', 'exports and launched study configs are written under this folder only (default: the working folder)')
    .action(async (o: ServeOptions) => {
      const port = intArg(o.port, '--port', 0);
      const token = o.token ?? (process.env.MERGESEARCH_TOKEN || undefined);
      checkServeHost(o.host, token);
      const app = await buildApp({ db: o.db, token, outputRoot: path.resolve(o.outRoot ?? process.cwd()), logger: true });
      await app.listen({ host: o.host, port });
      const address = app.server.address();
      const actual = typeof address === 'object' && address ? address.port : port;
      process.stdout.write(`mergesearch report for ${path.resolve(o.db)} at ${serveUrl(o.host, actual, token)}\n`);
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
