// The SQLite backend (better-sqlite3): one file, shared by processes on one host. Every write runs
// in a BEGIN IMMEDIATE transaction (the write lock is taken up front) and waits up to a minute for
// the lock instead of failing; reads run in deferred transactions (one snapshot each).
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { MergeSearchError, fail } from '../errors.ts';
import type { SqlConnection, SqlParam } from './connection.ts';
import { SQLITE } from './dialects.ts';
import { migrate } from './sqlite-schema.ts';
import { translateSqliteError } from './sqlite-error.ts';
import { Statements } from './statements.ts';

const BUSY_TIMEOUT_MS = 60_000;

function openDatabase(file: string, readonly: boolean): Database.Database {
  if (readonly) {
    if (!fs.existsSync(file)) fail('STUDY_E_OPEN', `${file} does not exist; check the path of the study database`);
  } else {
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
    } catch (e) {
      fail('STUDY_E_OPEN', `cannot create the folder of ${file} (${(e as Error).message}); check the path and its permissions`);
    }
  }
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) {
    fail('STUDY_E_OPEN', `${file} is a folder, not a study database; give the path of a .db file`);
  }
  try {
    return new Database(file, readonly ? { readonly: true, fileMustExist: true } : {});
  } catch (e) {
    fail('STUDY_E_OPEN', `cannot open ${file} (${(e as Error).message}); check that it is readable and its folder writable`);
  }
}

function configure(db: Database.Database, file: string, readonly: boolean): void {
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // Touch the header, the schema page and the size now, so a text file or a truncated database
    // is refused here rather than at some later write.
    db.pragma('user_version');
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    db.pragma('page_count');
    if (!readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
    }
    db.pragma('foreign_keys = ON');
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === 'SQLITE_NOTADB' || (typeof code === 'string' && code.startsWith('SQLITE_CORRUPT'))) {
      fail('STUDY_E_OPEN', `${file} is not a SQLite database, or is truncated or damaged (${(e as Error).message}); check the file name, or restore the file from a copy`);
    }
    translateSqliteError(e, file, readonly);
  }
}

export class SqliteConnection implements SqlConnection {
  readonly dialect = SQLITE;
  private readonly st: Statements;

  private constructor(
    /** The better-sqlite3 handle (tests reach it to simulate a full disk). */
    readonly db: Database.Database,
    readonly location: string,
    readonly readonly: boolean,
  ) {
    this.st = new Statements(db);
  }

  /** Open (creating when needed, unless read-only) and migrate the database at `file` (absolute). */
  static open(file: string, readonly: boolean): SqliteConnection {
    const db = openDatabase(file, readonly);
    try {
      configure(db, file, readonly);
      try {
        migrate(db, file, readonly);
      } catch (e) {
        translateSqliteError(e, file, readonly);
      }
    } catch (e) {
      db.close();
      throw e;
    }
    return new SqliteConnection(db, file, readonly);
  }

  all<T>(sql: string, params: readonly SqlParam[] = []): T[] {
    return this.guard(() => this.st.get(sql).all(...params) as T[]);
  }

  get<T>(sql: string, params: readonly SqlParam[] = []): T | undefined {
    return this.guard(() => this.st.get(sql).get(...params) as T | undefined);
  }

  run(sql: string, params: readonly SqlParam[] = []): void {
    this.guard(() => this.st.get(sql).run(...params));
  }

  transaction<T>(fn: () => T): T {
    return this.guard(() => this.db.transaction(fn).immediate());
  }

  read<T>(fn: () => T): T {
    return this.guard(() => this.db.transaction(fn).deferred());
  }

  /**
   * SQLite's data_version (bumped by commits of other connections, other processes included) with
   * this connection's own change count.
   */
  changeStamp(): string {
    const other = this.st.get('PRAGMA data_version').pluck().get() as number;
    const own = this.st.get('SELECT total_changes()').pluck().get() as number;
    return `${other}:${own}`;
  }

  close(): void {
    this.db.close();
  }

  /** Map SQLite failures to coded errors; a failed transaction has rolled back by then. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof MergeSearchError) throw e;
      translateSqliteError(e, this.location, this.readonly);
    }
  }
}
