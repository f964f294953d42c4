// Which backend a --db value names. `postgres://` and `postgresql://` URLs are PostgreSQL; a plain
// path, or one written `sqlite:PATH` (also `sqlite:///abs/path`), is a SQLite file. Any other
// `scheme:` is refused: before this, `postgres:/user@host/db` was taken as a path and created a
// folder named `postgres:`. A file whose name has a colon is written with a ./ in front.
import path from 'node:path';
import { fail } from '../errors.ts';

export type Location = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string; label: string };

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]+):/;

/** The URL with its password replaced by `***`: the only form messages and logs may show. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    // Not parseable as a URL: a file path stays as it is; for anything written scheme://, drop
    // whatever stands before an @ (it may hold a password).
    return /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(url) ? url.replace(/\/\/[^@/]*@/, '//***@') : url;
  }
}

export function parseLocation(db: string): Location {
  if (db.trim() === '') fail('STUDY_E_URL', 'the study database is empty; give a file path (studies.db) or a postgres://user@host/db URL');
  const scheme = SCHEME.exec(db)?.[1]?.toLowerCase();
  if (scheme === undefined) return { kind: 'sqlite', file: path.resolve(db) };
  if (scheme === 'sqlite') {
    const rest = db.slice('sqlite:'.length).replace(/^\/\//, '');
    if (rest === '') fail('STUDY_E_URL', `${db} names no file; write sqlite:studies.db or sqlite:///absolute/path/studies.db`);
    return { kind: 'sqlite', file: path.resolve(rest) };
  }
  if (scheme === 'postgres' || scheme === 'postgresql') {
    const label = redactUrl(db);
    let u: URL;
    try {
      u = new URL(db);
    } catch {
      fail('STUDY_E_URL', `${label} is not a valid URL; write postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`);
    }
    if (!db.slice(scheme.length + 1).startsWith('//') || u.hostname === '') {
      fail('STUDY_E_URL', `${label} names no server; write postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`);
    }
    return { kind: 'postgres', url: db, label };
  }
  return fail(
    'STUDY_E_URL',
    `${redactUrl(db)}: mergesearch stores studies in SQLite files or PostgreSQL, not "${scheme}:". ` +
      'Give a file path (studies.db), a postgres://user@host/db URL, or ./NAME for a file whose name has a colon',
  );
}
