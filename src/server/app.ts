// The report server: a fastify app with the JSON API under /api/ (one plugin per route, each with
// request and response schemas) and the report page's files at /. Every route needs the token (or,
// without one, a Host header naming the listen address) unless it is marked public (auth.ts). The study database is opened
// once, read-write (WAL: reads never wait for the searches writing to it, and each request reads a
// fresh snapshot), and closed with the app; running launches are stopped then too.
import fs from 'node:fs';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { fail } from '../errors.ts';
import { StudyStore, parseLocation } from '../study/index.ts';
import { registerAuth } from './auth.ts';
import type { ServerContext } from './context.ts';
import { registerErrorHandler, registerNotFound, serverPaths } from './error-handler.ts';
import { Launches } from './launches.ts';
import { PageCache } from './page-cache.ts';
import analysis from './routes/analysis.ts';
import exportRoute from './routes/export.ts';
import launch from './routes/launch.ts';
import pareto from './routes/pareto.ts';
import studies from './routes/studies.ts';
import study from './routes/study.ts';
import trial from './routes/trial.ts';
import trials from './routes/trials.ts';
import trialsCsv from './routes/trials-csv.ts';
import vendor from './routes/vendor.ts';
import { DEFAULT_PUBLIC_DIR, staticFiles } from './static.ts';

export const BODY_LIMIT = 1024 * 1024;
export const DEFAULT_PAGE_MAX_STALE_MS = 500;

export interface AppOptions {
  /** The study database (created when missing). */
  db: string;
  /** When set, every request but the page's files needs `Authorization: Bearer TOKEN`. */
  token?: string;
  /** The address serve listens on; without a token the Host header must name it (auth.ts). */
  host?: string;
  /** Whether launched configs may score with `command:` objectives (run shell commands); default off. */
  allowCommandLaunch?: boolean;
  /** Launched searches running at once, at most; default 2. */
  maxLaunches?: number;
  /** How old a cached trial page, CSV or front may be while a search writes (page-cache.ts); default 500 ms. */
  pageMaxStaleMs?: number;
  /** Exports and launch configs are written under this folder only. */
  outputRoot: string;
  /** Log warnings and errors (with stacks of internal errors) to stderr; default off. */
  logger?: boolean;
  /** Where the log goes when `logger` is on (tests); default stdout. */
  logStream?: NodeJS.WritableStream;
  /** The report page's files; default src/server/public/. */
  publicDir?: string;
  /** The CLI entry a launch runs (tests); default bin/mergesearch.js. */
  bin?: string;
}

export interface ReportApp extends FastifyInstance {
  /** The server's shared state (tests wait on launches through it). */
  ctx: ServerContext;
}

export async function buildApp(o: AppOptions): Promise<ReportApp> {
  const outputRoot = path.resolve(o.outputRoot);
  if (!fs.existsSync(outputRoot) || !fs.statSync(outputRoot).isDirectory()) {
    fail('SERVER_E_PATH', `the output root ${outputRoot} is not an existing folder; create it or give another --out-root`);
  }
  // A file path is made absolute (launches run in other folders); a postgres:// URL stays as given.
  const where = parseLocation(o.db);
  const db = where.kind === 'sqlite' ? where.file : where.url;
  const store = StudyStore.open(db);
  const ctx: ServerContext = { store, db, outputRoot, launches: new Launches({ db, outputRoot, store, bin: o.bin, allowCommands: o.allowCommandLaunch === true, maxRunning: o.maxLaunches }), pages: new PageCache(o.pageMaxStaleMs ?? DEFAULT_PAGE_MAX_STALE_MS) };
  const app = Fastify({
    bodyLimit: BODY_LIMIT,
    logger: o.logger ? { level: 'warn', ...(o.logStream ? { stream: o.logStream } : {}) } : false,
    // Study names and trial numbers only; long URLs are mistakes.
    routerOptions: { maxParamLength: 500 },
    // Unknown body keys are refused (a misspelt "overwrite" must not be dropped silently).
    ajv: { customOptions: { removeAdditional: false } },
  }) as unknown as ReportApp;
  app.decorate('ctx', ctx);
  app.addHook('onClose', async () => {
    await ctx.launches.stopAll();
    store.close();
  });
  registerErrorHandler(app, serverPaths({ db, outputRoot }));
  registerAuth(app, { token: o.token, listenHost: o.host });
  registerNotFound(app);
  await app.register(staticFiles(o.publicDir ?? DEFAULT_PUBLIC_DIR));
  for (const routes of [studies, study, trials, trialsCsv, pareto, analysis, trial, exportRoute, launch, vendor]) {
    await app.register(routes, { ctx });
  }
  return app;
}
