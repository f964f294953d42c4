// The few statements SQLite and PostgreSQL spell differently. Everything else the store issues is
// the subset both understand (RETURNING, ON CONFLICT ... DO UPDATE, `?` placeholders, which the
// Postgres connection renumbers to $1, $2, ...).

export interface Dialect {
  readonly name: 'sqlite' | 'postgres';
  /** `column IN (list)` for a list given as one parameter; returns the SQL and the parameter. */
  inList(column: string, values: readonly (string | number)[]): { sql: string; param: string | readonly (string | number)[] };
  /** Adds `?` (a finite number) to a numeric study attribute kept as JSON text; returns `value`. */
  readonly addCounter: string;
  /** Appended to the sub-select that picks a WAITING trial to claim. */
  readonly claimLock: string;
}

export const SQLITE: Dialect = {
  name: 'sqlite',
  inList: (column, values) => ({ sql: `${column} IN (SELECT value FROM json_each(?))`, param: JSON.stringify(values) }),
  addCounter: `INSERT INTO study_attrs (study_id, key, value) VALUES (?, ?, printf('%!.17g', ?))
     ON CONFLICT (study_id, key) DO UPDATE SET value = printf('%!.17g', CAST(study_attrs.value AS REAL) + CAST(excluded.value AS REAL))
     RETURNING value`,
  // One writer at a time holds the database's write lock: nothing more to lock.
  claimLock: '',
};

export const POSTGRES: Dialect = {
  name: 'postgres',
  inList: (column, values) => ({ sql: `${column} = ANY(?)`, param: values }),
  // float8's text form is the shortest that reads back exactly (extra_float_digits ≥ 1).
  addCounter: `INSERT INTO study_attrs (study_id, key, value) VALUES (?, ?, CAST(CAST(? AS double precision) AS text))
     ON CONFLICT (study_id, key) DO UPDATE SET value = CAST(CAST(study_attrs.value AS double precision) + CAST(excluded.value AS double precision) AS text)
     RETURNING value`,
  // Workers on other hosts claim at once: each takes a different WAITING row, none waits on another's.
  claimLock: ' FOR UPDATE SKIP LOCKED',
};
