// The SQLite schema as an ordered list of migrations: MIGRATIONS[i] takes a database from
// `PRAGMA user_version` i to i + 1. Append new scripts; never edit a released one, since
// databases in the field were built by it.
import type Database from 'better-sqlite3';
import { fail } from '../errors.ts';

export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE studies (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    config TEXT NOT NULL,
    backend TEXT NOT NULL,
    seed INTEGER NOT NULL,
    optimizer TEXT NOT NULL,
    created TEXT NOT NULL
  );
  CREATE TABLE objectives (
    study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('maximize', 'minimize')),
    PRIMARY KEY (study_id, idx)
  ) WITHOUT ROWID;
  CREATE TABLE trials (
    id INTEGER PRIMARY KEY,
    study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('WAITING', 'RUNNING', 'COMPLETE', 'PRUNED', 'FAIL')),
    started INTEGER,
    finished INTEGER,
    worker TEXT,
    heartbeat INTEGER,
    error TEXT,
    retry_of INTEGER
  );
  CREATE UNIQUE INDEX trials_study_number ON trials (study_id, number);
  CREATE INDEX trials_study_state ON trials (study_id, state);
  CREATE TABLE trial_params (
    trial_id INTEGER PRIMARY KEY REFERENCES trials(id) ON DELETE CASCADE,
    x TEXT NOT NULL,
    decoded TEXT,
    tag TEXT
  );
  CREATE TABLE trial_values (
    trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    value REAL,
    PRIMARY KEY (trial_id, idx)
  ) WITHOUT ROWID;
  CREATE TABLE intermediate_values (
    trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    value REAL,
    PRIMARY KEY (trial_id, step)
  ) WITHOUT ROWID;
  CREATE TABLE trial_attrs (
    trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (trial_id, key)
  ) WITHOUT ROWID;
  CREATE TABLE optimizer_state (
    study_id INTEGER PRIMARY KEY REFERENCES studies(id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    updated TEXT NOT NULL,
    version INTEGER NOT NULL
  );
  CREATE TABLE study_attrs (
    study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (study_id, key)
  ) WITHOUT ROWID;
  CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    created TEXT NOT NULL,
    text TEXT NOT NULL
  );
  CREATE INDEX notes_study ON notes (study_id, id);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

function userVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

function tableNames(db: Database.Database): string[] {
  const rows = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as Array<{ name: string }>;
  return rows.map((r) => r.name);
}

function refuseNewer(version: number, file: string): never {
  fail(
    'STUDY_E_VERSION',
    `${file} has schema version ${version}, but this mergesearch knows versions up to ${SCHEMA_VERSION}; ` +
      'it was written by a newer mergesearch: upgrade mergesearch to open it',
  );
}

function refuseForeign(tables: string[], file: string): never {
  fail(
    'STUDY_E_OPEN',
    `${file} is a SQLite database but not a mergesearch study database (it has tables ${tables.join(', ')} ` +
      'and no schema version); give a new file name or the file of an existing study',
  );
}

/** Bring the schema up to date, or check that it is when read-only. */
export function migrate(db: Database.Database, file: string, readonly: boolean): void {
  const found = userVersion(db);
  if (found > SCHEMA_VERSION) refuseNewer(found, file);
  if (found === SCHEMA_VERSION) return;
  if (readonly) {
    fail(
      'STUDY_E_OPEN',
      found === 0
        ? `${file} is not a mergesearch study database (it has no schema); check the file name`
        : `${file} has schema version ${found}, older than this mergesearch's ${SCHEMA_VERSION}; ` +
            'open it once without read-only (e.g. run a search on it) to upgrade it',
    );
  }
  // IMMEDIATE, and the version read again under the write lock: several workers may open a new
  // database at once, and only the first may create the tables.
  db.transaction(() => {
    const current = userVersion(db);
    if (current > SCHEMA_VERSION) refuseNewer(current, file);
    if (current === 0) {
      const tables = tableNames(db);
      if (tables.length > 0) refuseForeign(tables, file);
    }
    for (let v = current; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v] as string);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
