// What the route plugins share: the study store (one connection for the server's lifetime; reads
// see other processes' commits, WAL), where things may be written, and the launched searches.
import type { StudyStore } from '../study/index.ts';
import type { Launches } from './launches.ts';
import type { PageCache } from './page-cache.ts';

export interface ServerContext {
  store: StudyStore;
  /** Absolute path of the study database. */
  db: string;
  /** Absolute path under which exports and launch configs are written. */
  outputRoot: string;
  launches: Launches;
  /** Serialised answers of the read routes until the database changes. */
  pages: PageCache;
}

export interface RouteOptions {
  ctx: ServerContext;
}
