// A study named in an API path. The store's own not-found message names the database file and
// lists every study in it, which is right for the command line (the user's own files) but tells
// an API caller more than it asked: the answer here names only what the caller sent.
import type { StudyRow } from '../study/index.ts';
import { HttpError } from './auth.ts';
import type { ServerContext } from './context.ts';

export function studyNamed(ctx: ServerContext, name: string): StudyRow {
  const s = ctx.store.findStudy(name);
  if (!s) throw new HttpError('STUDY_E_NOT_FOUND', 404, `no study named ${JSON.stringify(name)} in this server's database; GET /api/studies lists the studies`);
  return s;
}
