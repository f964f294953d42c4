// A throwaway PostgreSQL cluster for the tests: initdb on a temporary folder (as the `postgres`
// user when the tests run as root, since initdb refuses root), started on a free port on
// 127.0.0.1 with password logins, stopped and removed by `stop()`. Without the server binaries the
// Postgres tests skip, and say why, unless CI is set: then they fail.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const PG_PASSWORD = 'pw-Secret_42';

export interface PgCluster {
  /** postgres://postgres:PASSWORD@127.0.0.1:PORT/ (append a database name). */
  base: string;
  port: number;
  /** Create a database and return its URL. */
  createDatabase(name: string): string;
  /** Run SQL as the superuser on `db` (default: postgres). */
  psql(sql: string, db?: string): string;
  stop(): void;
}

function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (process.env.PG_BIN_DIR) return process.env.PG_BIN_DIR;
  if (!fs.existsSync(root)) return undefined;
  const versions = fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin/initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] && path.join(root, versions[0], 'bin');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const asRoot = process.getuid?.() === 0;

/** Run a server binary, as `postgres` when we are root. */
function pgRun(bin: string, args: string[], env: Record<string, string> = {}): string {
  const cmd = asRoot ? 'runuser' : bin;
  const argv = asRoot ? ['-u', 'postgres', '--', bin, ...args] : args;
  return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
}

/** Start a cluster, or say why none can start. */
export async function startPgCluster(): Promise<PgCluster | { skip: string }> {
  const bin = binDir();
  if (!bin) return { skip: 'no PostgreSQL server binaries (install Debian postgresql, or set PG_BIN_DIR)' };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergesearch-pg-'));
  fs.chmodSync(dir, 0o755);
  const data = path.join(dir, 'data');
  const pwfile = path.join(dir, 'pw');
  fs.writeFileSync(pwfile, `${PG_PASSWORD}\n`);
  if (asRoot) execFileSync('chown', ['-R', 'postgres:', dir]);
  const port = await freePort();
  try {
    pgRun(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '--no-sync', '-E', 'UTF8', '--locale=C']);
    pgRun(path.join(bin, 'pg_ctl'), [
      '-D', data, '-l', path.join(dir, 'log'), '-w', '-t', '120',
      '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=60`,
      'start',
    ]);
  } catch (e) {
    const log = fs.existsSync(path.join(dir, 'log')) ? fs.readFileSync(path.join(dir, 'log'), 'utf8') : '';
    fs.rmSync(dir, { recursive: true, force: true });
    return { skip: `the throwaway PostgreSQL cluster did not start: ${(e as Error).message}\n${log}` };
  }
  const base = `postgres://postgres:${PG_PASSWORD}@127.0.0.1:${port}/`;
  const psql = (sql: string, db = 'postgres') =>
    pgRun(path.join(bin, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', db, '-v', 'ON_ERROR_STOP=1', '-qAt', '-c', sql], { PGPASSWORD: PG_PASSWORD });
  return {
    base,
    port,
    psql,
    createDatabase(name) {
      psql(`CREATE DATABASE "${name}"`);
      return base + name;
    },
    stop() {
      try {
        pgRun(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * For a beforeAll: the cluster, or undefined after saying why the Postgres tests skip. Under CI
 * a cluster that cannot start is an error.
 */
export async function pgClusterOrSkip(suite: string): Promise<PgCluster | undefined> {
  const c = await startPgCluster();
  if ('skip' in c) {
    if (process.env.CI) throw new Error(`${suite}: PostgreSQL is required under CI: ${c.skip}`);
    process.stderr.write(`${suite}: skipping the PostgreSQL tests: ${c.skip}\n`);
    return undefined;
  }
  return c;
}
