// The study store: every read and write of a study database goes through this class. Several
// processes (parallel workers, the report server) share one file, so every write runs in a
// BEGIN IMMEDIATE transaction (the write lock is taken up front, so a read-modify-write cannot
// interleave with another process's) and waits up to a minute for the lock instead of failing.
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { MergeSearchError, fail } from '../errors.ts';
import { decodeJson, encodeJson } from './json.ts';
import { migrate } from './schema.ts';
import { translateSqliteError } from './sqlite-error.ts';
import { Statements } from './statements.ts';
import { queryTrials, staleTrials } from './trial-rows.ts';
import {
  TRIAL_STATES,
  type NewStudy,
  type NewTrial,
  type ObjectiveRow,
  type StudyRow,
  type StudySummary,
  type TrialQuery,
  type TrialResult,
  type TrialRow,
  type TrialState,
} from './types.ts';

const BUSY_TIMEOUT_MS = 60_000;

interface StudyDbRow {
  id: number;
  name: string;
  config: string;
  backend: string;
  seed: number;
  optimizer: string;
  created: string;
}

interface ObjectiveDbRow {
  study_id: number;
  name: string;
  direction: ObjectiveRow['direction'];
}

const STUDY_COLUMNS = 'id, name, config, backend, seed, optimizer, created';

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

export class StudyStore {
  private readonly st: Statements;

  private constructor(
    private readonly db: Database.Database,
    readonly file: string,
    readonly readonly: boolean,
  ) {
    this.st = new Statements(db);
  }

  /** Open (creating when needed, unless read-only) and migrate the study database at `file`. */
  static open(file: string, opts: { readonly?: boolean } = {}): StudyStore {
    const abs = path.resolve(file);
    const readonly = opts.readonly === true;
    const db = openDatabase(abs, readonly);
    try {
      configure(db, abs, readonly);
      try {
        migrate(db, abs, readonly);
      } catch (e) {
        translateSqliteError(e, abs, readonly);
      }
    } catch (e) {
      db.close();
      throw e;
    }
    return new StudyStore(db, abs, readonly);
  }

  close(): void {
    this.db.close();
  }

  /** Run `fn` atomically under the write lock; nested calls become savepoints. */
  transaction<T>(fn: () => T): T {
    return this.guard(() => this.db.transaction(fn).immediate());
  }

  // ---- studies ----

  createStudy(s: NewStudy): StudyRow {
    for (const o of s.objectives) {
      if (o.direction !== 'maximize' && o.direction !== 'minimize') {
        throw new Error(`objective ${o.name} of study ${s.name} has direction ${String(o.direction)}, not maximize or minimize`);
      }
    }
    return this.transaction(() => {
      if (this.findStudy(s.name)) {
        fail('STUDY_E_EXISTS', `a study named "${s.name}" exists already in ${this.file}; use --resume to continue it, or choose another name`);
      }
      const { id } = this.st
        .get(`INSERT INTO studies (name, config, backend, seed, optimizer, created) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`)
        .get(s.name, encodeJson(s.config), s.backend, s.seed, s.optimizer, new Date().toISOString()) as { id: number };
      const insert = this.st.get(`INSERT INTO objectives (study_id, idx, name, direction) VALUES (?, ?, ?, ?)`);
      s.objectives.forEach((o, i) => insert.run(id, i, o.name, o.direction));
      return this.studyById(id);
    });
  }

  /** Remove a study with all its trials, values and state (the schema cascades the delete). */
  deleteStudy(studyId: number): void {
    this.transaction(() => {
      this.requireStudy(studyId);
      this.st.get(`DELETE FROM studies WHERE id = ?`).run(studyId);
    });
  }

  getStudy(name: string): StudyRow {
    const found = this.findStudy(name);
    if (found) return found;
    const names = this.listStudyNames();
    return fail(
      'STUDY_E_NOT_FOUND',
      `no study named "${name}" in ${this.file}; ` +
        (names.length ? `it holds: ${names.join(', ')}` : 'it holds no studies yet') +
        '. Check the name, or start the study first',
    );
  }

  findStudy(name: string): StudyRow | undefined {
    return this.read(() => {
      const row = this.st.get(`SELECT ${STUDY_COLUMNS} FROM studies WHERE name = ?`).get(name) as StudyDbRow | undefined;
      return row && this.withObjectives(row);
    });
  }

  studyById(id: number): StudyRow {
    return this.read(() => {
      const row = this.st.get(`SELECT ${STUDY_COLUMNS} FROM studies WHERE id = ?`).get(id) as StudyDbRow | undefined;
      if (!row) fail('STUDY_E_NOT_FOUND', `no study with id ${id} in ${this.file}; studies there: ${this.listStudyNames().join(', ') || 'none'}`);
      return this.withObjectives(row);
    });
  }

  listStudies(): StudySummary[] {
    return this.read(() => {
      const studies = this.st.get(`SELECT ${STUDY_COLUMNS} FROM studies ORDER BY id`).all() as StudyDbRow[];
      const objectives = this.st.get(`SELECT study_id, name, direction FROM objectives ORDER BY study_id, idx`).all() as ObjectiveDbRow[];
      const counts = this.st.get(`SELECT study_id, state, count(*) AS n FROM trials GROUP BY study_id, state`).all() as Array<{
        study_id: number;
        state: TrialState;
        n: number;
      }>;
      return studies.map((row) => {
        const c = Object.fromEntries(TRIAL_STATES.map((s) => [s, 0])) as Record<TrialState, number>;
        for (const k of counts) if (k.study_id === row.id) c[k.state] = k.n;
        const objs = objectives.filter((o) => o.study_id === row.id).map((o) => ({ name: o.name, direction: o.direction }));
        return { ...this.studyFromRow(row, objs), counts: c };
      });
    });
  }

  // ---- optimizer state, study attributes, notes ----

  loadOptimizerState(studyId: number): { state: unknown; version: number } | undefined {
    return this.read(() => {
      const row = this.st.get(`SELECT state, version FROM optimizer_state WHERE study_id = ?`).get(studyId) as
        | { state: string; version: number }
        | undefined;
      return row && { state: decodeJson(row.state), version: row.version };
    });
  }

  /** Store the optimizer's state; returns its version (1 for the first save, then +1 per save). */
  saveOptimizerState(studyId: number, state: unknown): number {
    return this.transaction(() => {
      this.requireStudy(studyId);
      const row = this.st
        .get(
          `INSERT INTO optimizer_state (study_id, state, updated, version) VALUES (?, ?, ?, 1)
           ON CONFLICT (study_id) DO UPDATE SET state = excluded.state, updated = excluded.updated, version = version + 1
           RETURNING version`,
        )
        .get(studyId, encodeJson(state), new Date().toISOString()) as { version: number };
      return row.version;
    });
  }

  setStudyAttr(studyId: number, key: string, value: unknown): void {
    this.transaction(() => {
      this.requireStudy(studyId);
      this.st
        .get(`INSERT INTO study_attrs (study_id, key, value) VALUES (?, ?, ?) ON CONFLICT (study_id, key) DO UPDATE SET value = excluded.value`)
        .run(studyId, key, encodeJson(value));
    });
  }

  /**
   * Add `delta` to a numeric study attribute (a counter: trials interrupted, evaluations, seconds)
   * in one statement, so concurrent workers never lose an update; returns the new value.
   */
  addStudyCounter(studyId: number, key: string, delta: number): number {
    if (!Number.isFinite(delta)) throw new Error(`addStudyCounter: ${key} += ${delta} is not a finite number`);
    return this.transaction(() => {
      this.requireStudy(studyId);
      const row = this.st
        .get(
          `INSERT INTO study_attrs (study_id, key, value) VALUES (?, ?, printf('%!.17g', ?))
           ON CONFLICT (study_id, key) DO UPDATE SET value = printf('%!.17g', CAST(value AS REAL) + CAST(excluded.value AS REAL))
           RETURNING value`,
        )
        .get(studyId, key, delta) as { value: string };
      return Number(row.value);
    });
  }

  studyAttrs(studyId: number): Record<string, unknown> {
    return this.read(() => {
      const rows = this.st.get(`SELECT key, value FROM study_attrs WHERE study_id = ? ORDER BY key`).all(studyId) as Array<{ key: string; value: string }>;
      return Object.fromEntries(rows.map((r) => [r.key, decodeJson(r.value)]));
    });
  }

  addNote(studyId: number, text: string): void {
    this.transaction(() => {
      this.requireStudy(studyId);
      this.st.get(`INSERT INTO notes (study_id, created, text) VALUES (?, ?, ?)`).run(studyId, new Date().toISOString(), text);
    });
  }

  notes(studyId: number): Array<{ created: string; text: string }> {
    return this.read(() => this.st.get(`SELECT created, text FROM notes WHERE study_id = ? ORDER BY id`).all(studyId) as Array<{ created: string; text: string }>);
  }

  // ---- trials ----

  /** A new trial numbered one past the study's last (decided under the write lock). */
  createTrial(studyId: number, t: NewTrial): TrialRow {
    if (!Array.isArray(t.x)) throw new Error(`createTrial: x must be an array of numbers, got ${typeof t.x}`);
    return this.transaction(() => {
      this.requireStudy(studyId);
      const { next } = this.st.get(`SELECT COALESCE(MAX(number), -1) + 1 AS next FROM trials WHERE study_id = ?`).get(studyId) as { next: number };
      const now = Date.now();
      const running = t.state === 'RUNNING';
      const { id } = this.st
        .get(
          `INSERT INTO trials (study_id, number, state, started, heartbeat, worker, retry_of) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
        )
        .get(studyId, next, t.state, running ? now : null, running ? now : null, t.worker ?? null, t.retryOf ?? null) as { id: number };
      this.st
        .get(`INSERT INTO trial_params (trial_id, x, decoded, tag) VALUES (?, ?, ?, ?)`)
        .run(id, encodeJson(t.x), t.decoded === undefined ? null : encodeJson(t.decoded), t.tag === undefined ? null : encodeJson(t.tag));
      return this.trial(studyId, next);
    });
  }

  /** Move the oldest WAITING trial to RUNNING for `worker`; undefined when none waits. */
  claimWaitingTrial(studyId: number, worker: string): TrialRow | undefined {
    return this.transaction(() => {
      const now = Date.now();
      const row = this.st
        .get(
          `UPDATE trials SET state = 'RUNNING', worker = ?, started = ?, heartbeat = ?
           WHERE id = (SELECT id FROM trials WHERE study_id = ? AND state = 'WAITING' ORDER BY number LIMIT 1)
           RETURNING number`,
        )
        .get(worker, now, now, studyId) as { number: number } | undefined;
      return row && this.trial(studyId, row.number);
    });
  }

  /** Record that the RUNNING trial's worker is alive; refused once the trial is no longer RUNNING. */
  heartbeat(studyId: number, number: number): void {
    this.transaction(() => {
      const ref = this.trialRef(studyId, number);
      if (ref.state !== 'RUNNING') this.refuseState(studyId, number, ref.state, 'record a heartbeat for');
      this.st.get(`UPDATE trials SET heartbeat = ? WHERE id = ?`).run(Date.now(), ref.id);
    });
  }

  /** Finish a RUNNING or WAITING trial; values (one per objective) are stored for COMPLETE only. */
  finishTrial(studyId: number, number: number, r: TrialResult): TrialRow {
    return this.transaction(() => {
      const ref = this.trialRef(studyId, number);
      if (ref.state !== 'RUNNING' && ref.state !== 'WAITING') this.refuseState(studyId, number, ref.state, 'finish');
      if (r.state === 'COMPLETE') {
        const objectives = this.studyById(studyId).objectives.length;
        if (!r.values || r.values.length !== objectives) {
          throw new Error(`finishTrial: trial ${number} needs ${objectives} values (one per objective) to be COMPLETE, got ${r.values?.length ?? 'none'}`);
        }
        const insert = this.st.get(`INSERT INTO trial_values (trial_id, idx, value) VALUES (?, ?, ?)`);
        r.values.forEach((v, i) => insert.run(ref.id, i, v));
      }
      this.st.get(`UPDATE trials SET state = ?, finished = ?, error = ? WHERE id = ?`).run(r.state, Date.now(), r.error ?? null, ref.id);
      return this.trial(studyId, number);
    });
  }

  /** Store per-step values (a step given again replaces the earlier value). */
  addIntermediate(studyId: number, number: number, points: Array<{ step: number; value: number }>): void {
    this.transaction(() => {
      const { id } = this.trialRef(studyId, number);
      const upsert = this.st.get(
        `INSERT INTO intermediate_values (trial_id, step, value) VALUES (?, ?, ?) ON CONFLICT (trial_id, step) DO UPDATE SET value = excluded.value`,
      );
      for (const p of points) upsert.run(id, p.step, p.value);
    });
  }

  setTrialAttr(studyId: number, number: number, key: string, value: unknown): void {
    this.transaction(() => {
      const { id } = this.trialRef(studyId, number);
      this.st
        .get(`INSERT INTO trial_attrs (trial_id, key, value) VALUES (?, ?, ?) ON CONFLICT (trial_id, key) DO UPDATE SET value = excluded.value`)
        .run(id, key, encodeJson(value));
    });
  }

  /** RUNNING trials whose worker has not sent a heartbeat for `olderThanMs`. */
  staleRunningTrials(studyId: number, olderThanMs: number): TrialRow[] {
    return this.read(() => staleTrials(this.st, studyId, Date.now() - olderThanMs));
  }

  /** Mark trials FAIL with `error`; trials already finished are left as they are. */
  failTrials(studyId: number, numbers: number[], error: string): void {
    this.transaction(() => {
      const update = this.st.get(`UPDATE trials SET state = 'FAIL', finished = ?, error = ? WHERE id = ? AND state IN ('RUNNING', 'WAITING')`);
      const now = Date.now();
      for (const n of numbers) update.run(now, error, this.trialRef(studyId, n).id);
    });
  }

  trial(studyId: number, number: number): TrialRow {
    return this.read(() => {
      const [t] = queryTrials(this.st, studyId, { after: number - 1, limit: 1 });
      if (t?.number !== number) this.missingTrial(studyId, number);
      return t;
    });
  }

  /** Trials ordered by number; `after` keeps numbers greater than it. */
  trials(studyId: number, opts: TrialQuery = {}): TrialRow[] {
    return this.read(() => {
      this.requireStudy(studyId);
      return queryTrials(this.st, studyId, opts);
    });
  }

  countTrials(studyId: number, states?: TrialState[]): number {
    if (states !== undefined && states.length === 0) return 0;
    return this.read(() => {
      const row = this.st
        .get(`SELECT count(*) AS n FROM trials WHERE study_id = @study AND (@states IS NULL OR state IN (SELECT value FROM json_each(@states)))`)
        .get({ study: studyId, states: states === undefined ? null : JSON.stringify(states) }) as { n: number };
      return row.n;
    });
  }

  // ---- internals ----

  /** Map SQLite failures to coded errors; a failed transaction has rolled back by then. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof MergeSearchError) throw e;
      translateSqliteError(e, this.file, this.readonly);
    }
  }

  /** Several reads that must see one snapshot (a trial and its values). */
  private read<T>(fn: () => T): T {
    return this.guard(() => this.db.transaction(fn).deferred());
  }

  private listStudyNames(): string[] {
    return (this.st.get(`SELECT name FROM studies ORDER BY id`).all() as Array<{ name: string }>).map((r) => r.name);
  }

  private requireStudy(studyId: number): void {
    if (this.st.get(`SELECT 1 FROM studies WHERE id = ?`).get(studyId) === undefined) this.studyById(studyId);
  }

  private withObjectives(row: StudyDbRow): StudyRow {
    const objs = this.st.get(`SELECT name, direction FROM objectives WHERE study_id = ? ORDER BY idx`).all(row.id) as ObjectiveRow[];
    return this.studyFromRow(row, objs);
  }

  private studyFromRow(row: StudyDbRow, objectives: ObjectiveRow[]): StudyRow {
    return {
      id: row.id,
      name: row.name,
      config: decodeJson(row.config),
      backend: row.backend,
      seed: row.seed,
      optimizer: row.optimizer,
      created: row.created,
      objectives,
    };
  }

  private trialRef(studyId: number, number: number): { id: number; state: TrialState } {
    const ref = this.st.get(`SELECT id, state FROM trials WHERE study_id = ? AND number = ?`).get(studyId, number) as
      | { id: number; state: TrialState }
      | undefined;
    return ref ?? this.missingTrial(studyId, number);
  }

  private missingTrial(studyId: number, number: number): never {
    const study = this.studyById(studyId);
    const n = this.countTrials(studyId);
    return fail(
      'STUDY_E_NOT_FOUND',
      `study "${study.name}" in ${this.file} has no trial ${number}; ` +
        (n ? `its trials are numbered 0 to ${n - 1}` : 'it has no trials yet'),
    );
  }

  private refuseState(studyId: number, number: number, state: TrialState, action: string): never {
    const study = this.studyById(studyId);
    return fail(
      'STUDY_E_BUSY',
      `cannot ${action} trial ${number} of study "${study.name}" in ${this.file}: it is ${state} already. ` +
        'A trial is finished once; if another process marked it FAIL, its heartbeat had stopped for too long ' +
        '(check for a second search on this study, or a worker that hung)',
    );
  }
}
