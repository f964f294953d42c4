// SQLite's error codes, translated into the project's coded errors so a full disk or a
// read-only file reads as advice, not as a stack trace from the native addon.
import { MergeSearchError, fail } from '../errors.ts';

function sqliteCode(e: unknown): string | undefined {
  if (!(e instanceof Error) || e instanceof MergeSearchError) return undefined;
  const code = (e as Error & { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

/** Rethrow `e` as a coded error when it is one a user can cause and fix; otherwise as it is. */
export function translateSqliteError(e: unknown, file: string, readonly: boolean): never {
  const code = sqliteCode(e);
  const detail = e instanceof Error ? e.message : String(e);
  if (code === undefined) throw e;
  if (code.startsWith('SQLITE_FULL')) {
    fail('STUDY_E_WRITE', `${file}: the disk is full (${detail}); nothing of this write was kept. Free disk space and run again`);
  }
  if (code.startsWith('SQLITE_READONLY')) {
    fail(
      'STUDY_E_WRITE',
      readonly
        ? `${file} was opened read-only and cannot be written (${detail})`
        : `${file} cannot be written (${detail}); nothing of this write was kept. Check the permissions of the file, its -wal and -shm files and its folder`,
    );
  }
  if (code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_CANTOPEN')) {
    fail('STUDY_E_WRITE', `${file}: the disk reported an I/O error (${detail}, ${code}); nothing of this write was kept. Check free disk space and permissions`);
  }
  if (code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_NOTADB')) {
    fail('STUDY_E_OPEN', `${file} is damaged (${detail}); restore it from a copy or start a new study file`);
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    fail('STUDY_E_BUSY', `${file} stayed locked by another process for over a minute (${detail}); check for a hung mergesearch process`);
  }
  throw e;
}
