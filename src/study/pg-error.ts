// PostgreSQL failures a user can cause and fix, as the project's coded errors. Every message names
// the database by its URL without the password (the password is also scrubbed from the server's
// or the client's own text, which may echo the connection string).
import { fail } from '../errors.ts';

export interface PgFailure {
  message: string;
  /** SQLSTATE from the server, or a Node errno (ECONNREFUSED) from the socket. */
  code?: string;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN']);

/** `text` with the password of `url` (raw and percent-decoded) replaced by ***. */
export function scrubPassword(text: string, url: string): string {
  let password = '';
  try {
    password = new URL(url).password;
  } catch {
    return text;
  }
  let out = text.split(url).join('[the database URL]');
  for (const p of new Set([password, decodeURIComponent(password)])) if (p.length > 0) out = out.split(p).join('***');
  return out;
}

/** Fail with a coded error for a failure while connecting to `label`. */
export function failConnect(e: PgFailure, label: string): never {
  const detail = e.code ? `${e.message}, ${e.code}` : e.message;
  if (e.code === '28P01' || e.code === '28000') {
    fail('STUDY_E_CONNECT', `the PostgreSQL server at ${label} refused the login (${detail}); check the user name and password in the URL (or PGPASSWORD, ~/.pgpass)`);
  }
  if (e.code === '3D000') {
    fail('STUDY_E_CONNECT', `the PostgreSQL server at ${label} has no such database (${detail}); create it first: createdb -h HOST -U USER DATABASE`);
  }
  if ((e.code !== undefined && UNREACHABLE.has(e.code)) || /timeout|terminated|ECONNREFUSED/i.test(e.message)) {
    fail('STUDY_E_CONNECT', `cannot reach the PostgreSQL server at ${label} (${detail}); check the host and port, that the server runs and accepts TCP connections from this machine`);
  }
  fail('STUDY_E_CONNECT', `cannot connect to the PostgreSQL server at ${label} (${detail}); check the URL`);
}

/** Rethrow a failed statement as a coded error when a user can act on it; otherwise as an Error. */
export function failQuery(e: PgFailure, label: string, readonly: boolean): never {
  const detail = e.code ? `${e.message}, ${e.code}` : e.message;
  if (e.code === '25006') fail('STUDY_E_WRITE', `${label} was opened read-only and cannot be written (${detail})`);
  if (e.code === '55P03') {
    fail('STUDY_E_BUSY', `${label}: another worker held the study's write lock for over a minute (${detail}); check for a hung mergesearch process`);
  }
  if (e.code === '53100' || e.code === '53200') {
    fail('STUDY_E_WRITE', `${label}: the server is out of disk or memory (${detail}); nothing of this write was kept. Free space on the server and run again`);
  }
  if (e.code === '42501') {
    fail('STUDY_E_WRITE', `${label}: permission denied (${detail}); ${readonly ? 'the user may only read' : 'grant the user CREATE and write rights on the database'}`);
  }
  if ((e.code !== undefined && (UNREACHABLE.has(e.code) || e.code.startsWith('57P') || e.code.startsWith('08'))) || /Connection terminated|not connected/i.test(e.message)) {
    fail('STUDY_E_CONNECT', `lost the connection to the PostgreSQL server at ${label} (${detail}); nothing of the unfinished write was kept. Check the server and run again`);
  }
  throw Object.assign(new Error(`${label}: ${detail}`), e.code ? { code: e.code } : {});
}
