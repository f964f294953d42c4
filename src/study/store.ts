// The study store: every read and write of a study database goes through this class, over one of
// two backends chosen by the --db value (location.ts): a SQLite file shared by the processes of
// one host, or a PostgreSQL database shared by workers on several hosts. Several processes share
// one study, so every write runs in a transaction that takes the store's write lock up front
// (connection.ts); the SQL here is the subset both backends speak, the rest is in dialects.ts.
import { fail } from '../errors.ts';
import type { SqlConnection } from './connection.ts';
import { decodeJson, encodeJson } from './json.ts';
import { parseLocation } from './location.ts';
import { PgConnection } from './pg-connection.ts';
import { SqliteConnection } from './sqlite-connection.ts';
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

export interface OpenOptions {
  readonly?: boolean;
  /** Replaces Date.now for the trial time stamps (tests age heartbeats without waiting). */
  clock?: () => number;
}

export class StudyStore {
  private constructor(
    /** The backend (tests reach it for backend-specific checks). */
    readonly db: SqlConnection,
    /** Milliseconds since the epoch for started / heartbeat / finished stamps and staleness. */
    private readonly now: () => number,
  ) {}

  /** Where the studies are, for messages: the file's absolute path, or the URL without its password. */
  get file(): string {
    return this.db.location;
  }

  get readonly(): boolean {
    return this.db.readonly;
  }

  /** Which backend holds the studies. */
  get backend(): 'sqlite' | 'postgres' {
    return this.db.dialect.name;
  }

  /**
   * Open (creating when needed, unless read-only) and migrate the study database at `file`.
   * `clock` replaces Date.now for the trial time stamps (tests use it to age heartbeats without
   * waiting).
   */
  static open(db: string, opts: OpenOptions = {}): StudyStore {
    const where = parseLocation(db);
    const readonly = opts.readonly === true;
    const conn = where.kind === 'postgres' ? PgConnection.open(where.url, where.label, readonly) : SqliteConnection.open(where.file, readonly);
    return new StudyStore(conn, opts.clock ?? Date.now);
  }

  close(): void {
    this.db.close();
  }

  /**
   * A value that changes whenever the database changes: SQLite's data_version (bumped by commits
   * of other connections, other processes included) with this connection's own change count. Two
   * equal values mean nothing was written in between, so answers computed from the first still hold.
   */
  changeStamp(): string {
    return this.db.changeStamp();
  }

  /** Run `fn` atomically under the write lock; nested calls become savepoints. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn);
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
      const { id } = this.db.get<{ id: number }>(
        `INSERT INTO studies (name, config, backend, seed, optimizer, created) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
        [s.name, encodeJson(s.config), s.backend, s.seed, s.optimizer, new Date().toISOString()],
      )!;
      s.objectives.forEach((o, i) => this.db.run(`INSERT INTO objectives (study_id, idx, name, direction) VALUES (?, ?, ?, ?)`, [id, i, o.name, o.direction]));
      return this.studyById(id);
    });
  }

  /** Remove a study with all its trials, values and state (the schema cascades the delete). */
  deleteStudy(studyId: number): void {
    this.transaction(() => {
      this.requireStudy(studyId);
      this.db.run(`DELETE FROM studies WHERE id = ?`, [studyId]);
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
      const row = this.db.get<StudyDbRow>(`SELECT ${STUDY_COLUMNS} FROM studies WHERE name = ?`, [name]);
      return row && this.withObjectives(row);
    });
  }

  studyById(id: number): StudyRow {
    return this.read(() => {
      const row = this.db.get<StudyDbRow>(`SELECT ${STUDY_COLUMNS} FROM studies WHERE id = ?`, [id]);
      if (!row) fail('STUDY_E_NOT_FOUND', `no study with id ${id} in ${this.file}; studies there: ${this.listStudyNames().join(', ') || 'none'}`);
      return this.withObjectives(row);
    });
  }

  listStudies(): StudySummary[] {
    return this.read(() => {
      const studies = this.db.all<StudyDbRow>(`SELECT ${STUDY_COLUMNS} FROM studies ORDER BY id`);
      const objectives = this.db.all<ObjectiveDbRow>(`SELECT study_id, name, direction FROM objectives ORDER BY study_id, idx`);
      const counts = this.db.all<{ study_id: number; state: TrialState; n: number }>(`SELECT study_id, state, count(*) AS n FROM trials GROUP BY study_id, state`);
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
      const row = this.db.get<{ state: string; version: number }>(`SELECT state, version FROM optimizer_state WHERE study_id = ?`, [studyId]);
      return row && { state: decodeJson(row.state), version: row.version };
    });
  }

  /** Store the optimizer's state; returns its version (1 for the first save, then +1 per save). */
  saveOptimizerState(studyId: number, state: unknown): number {
    return this.transaction(() => {
      this.requireStudy(studyId);
      const row = this.db.get<{ version: number }>(
        `INSERT INTO optimizer_state (study_id, state, updated, version) VALUES (?, ?, ?, 1)
         ON CONFLICT (study_id) DO UPDATE SET state = excluded.state, updated = excluded.updated, version = optimizer_state.version + 1
         RETURNING version`,
        [studyId, encodeJson(state), new Date().toISOString()],
      )!;
      return row.version;
    });
  }

  setStudyAttr(studyId: number, key: string, value: unknown): void {
    this.transaction(() => {
      this.requireStudy(studyId);
      this.db.run(`INSERT INTO study_attrs (study_id, key, value) VALUES (?, ?, ?) ON CONFLICT (study_id, key) DO UPDATE SET value = excluded.value`, [studyId, key, encodeJson(value)]);
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
      const row = this.db.get<{ value: string }>(this.db.dialect.addCounter, [studyId, key, delta])!;
      return Number(row.value);
    });
  }

  studyAttrs(studyId: number): Record<string, unknown> {
    return this.read(() => {
      const rows = this.db.all<{ key: string; value: string }>(`SELECT key, value FROM study_attrs WHERE study_id = ? ORDER BY key`, [studyId]);
      return Object.fromEntries(rows.map((r) => [r.key, decodeJson(r.value)]));
    });
  }

  addNote(studyId: number, text: string): void {
    this.transaction(() => {
      this.requireStudy(studyId);
      this.db.run(`INSERT INTO notes (study_id, created, text) VALUES (?, ?, ?)`, [studyId, new Date().toISOString(), text]);
    });
  }

  notes(studyId: number): Array<{ created: string; text: string }> {
    return this.read(() => this.db.all<{ created: string; text: string }>(`SELECT created, text FROM notes WHERE study_id = ? ORDER BY id`, [studyId]));
  }

  // ---- trials ----

  /** A new trial numbered one past the study's last (decided under the write lock). */
  createTrial(studyId: number, t: NewTrial): TrialRow {
    if (!Array.isArray(t.x)) throw new Error(`createTrial: x must be an array of numbers, got ${typeof t.x}`);
    return this.transaction(() => {
      this.requireStudy(studyId);
      const { next } = this.db.get<{ next: number }>(`SELECT COALESCE(MAX(number), -1) + 1 AS next FROM trials WHERE study_id = ?`, [studyId])!;
      const now = this.now();
      const running = t.state === 'RUNNING';
      const { id } = this.db.get<{ id: number }>(
        `INSERT INTO trials (study_id, number, state, started, heartbeat, worker, retry_of) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
        [studyId, next, t.state, running ? now : null, running ? now : null, t.worker ?? null, t.retryOf ?? null],
      )!;
      this.db.run(`INSERT INTO trial_params (trial_id, x, decoded, tag) VALUES (?, ?, ?, ?)`, [
        id,
        encodeJson(t.x),
        t.decoded === undefined ? null : encodeJson(t.decoded),
        t.tag === undefined ? null : encodeJson(t.tag),
      ]);
      return this.trial(studyId, next);
    });
  }

  /** Move the oldest WAITING trial to RUNNING for `worker`; undefined when none waits. */
  claimWaitingTrial(studyId: number, worker: string): TrialRow | undefined {
    return this.transaction(() => {
      const now = this.now();
      const row = this.db.get<{ number: number }>(
        `UPDATE trials SET state = 'RUNNING', worker = ?, started = ?, heartbeat = ?
         WHERE id = (SELECT id FROM trials WHERE study_id = ? AND state = 'WAITING' ORDER BY number LIMIT 1${this.db.dialect.claimLock})
         RETURNING number`,
        [worker, now, now, studyId],
      );
      return row && this.trial(studyId, row.number);
    });
  }

  /** Record that the RUNNING trial's worker is alive; refused once the trial is no longer RUNNING. */
  heartbeat(studyId: number, number: number): void {
    this.transaction(() => {
      const ref = this.trialRef(studyId, number);
      if (ref.state !== 'RUNNING') this.refuseState(studyId, number, ref.state, 'record a heartbeat for');
      this.db.run(`UPDATE trials SET heartbeat = ? WHERE id = ?`, [this.now(), ref.id]);
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
        r.values.forEach((v, i) => this.db.run(`INSERT INTO trial_values (trial_id, idx, value) VALUES (?, ?, ?)`, [ref.id, i, v]));
      }
      this.db.run(`UPDATE trials SET state = ?, finished = ?, error = ? WHERE id = ?`, [r.state, this.now(), r.error ?? null, ref.id]);
      return this.trial(studyId, number);
    });
  }

  /** Store per-step values (a step given again replaces the earlier value). */
  addIntermediate(studyId: number, number: number, points: Array<{ step: number; value: number }>): void {
    this.transaction(() => {
      const { id } = this.trialRef(studyId, number);
      for (const p of points) {
        this.db.run(`INSERT INTO intermediate_values (trial_id, step, value) VALUES (?, ?, ?) ON CONFLICT (trial_id, step) DO UPDATE SET value = excluded.value`, [id, p.step, p.value]);
      }
    });
  }

  setTrialAttr(studyId: number, number: number, key: string, value: unknown): void {
    this.transaction(() => {
      const { id } = this.trialRef(studyId, number);
      this.db.run(`INSERT INTO trial_attrs (trial_id, key, value) VALUES (?, ?, ?) ON CONFLICT (trial_id, key) DO UPDATE SET value = excluded.value`, [id, key, encodeJson(value)]);
    });
  }

  /** RUNNING trials whose worker has not sent a heartbeat for `olderThanMs`. */
  staleRunningTrials(studyId: number, olderThanMs: number): TrialRow[] {
    return this.read(() => staleTrials(this.db, studyId, this.now() - olderThanMs));
  }

  /** Mark trials FAIL with `error`; trials already finished are left as they are. */
  failTrials(studyId: number, numbers: number[], error: string): void {
    this.transaction(() => {
      const now = this.now();
      for (const n of numbers) {
        this.db.run(`UPDATE trials SET state = 'FAIL', finished = ?, error = ? WHERE id = ? AND state IN ('RUNNING', 'WAITING')`, [now, error, this.trialRef(studyId, n).id]);
      }
    });
  }

  trial(studyId: number, number: number): TrialRow {
    return this.read(() => {
      const [t] = queryTrials(this.db, studyId, { after: number - 1, limit: 1 });
      if (t?.number !== number) this.missingTrial(studyId, number);
      return t;
    });
  }

  /** Trials ordered by number; `after` keeps numbers greater than it. */
  trials(studyId: number, opts: TrialQuery = {}): TrialRow[] {
    return this.read(() => {
      this.requireStudy(studyId);
      return queryTrials(this.db, studyId, opts);
    });
  }

  countTrials(studyId: number, states?: TrialState[]): number {
    if (states !== undefined && states.length === 0) return 0;
    return this.read(() => {
      if (states === undefined) return this.db.get<{ n: number }>(`SELECT count(*) AS n FROM trials WHERE study_id = ?`, [studyId])!.n;
      const list = this.db.dialect.inList('state', states);
      return this.db.get<{ n: number }>(`SELECT count(*) AS n FROM trials WHERE study_id = ? AND ${list.sql}`, [studyId, list.param])!.n;
    });
  }

  // ---- internals ----

  /** Several reads that must see one snapshot (a trial and its values). */
  private read<T>(fn: () => T): T {
    return this.db.read(fn);
  }

  private listStudyNames(): string[] {
    return this.db.all<{ name: string }>(`SELECT name FROM studies ORDER BY id`).map((r) => r.name);
  }

  private requireStudy(studyId: number): void {
    if (this.db.get(`SELECT 1 AS one FROM studies WHERE id = ?`, [studyId]) === undefined) this.studyById(studyId);
  }

  private withObjectives(row: StudyDbRow): StudyRow {
    const objs = this.db.all<ObjectiveRow>(`SELECT name, direction FROM objectives WHERE study_id = ? ORDER BY idx`, [row.id]);
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
    const ref = this.db.get<{ id: number; state: TrialState }>(`SELECT id, state FROM trials WHERE study_id = ? AND number = ?`, [studyId, number]);
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
