// Reading trials in bulk: one query for the trials and their params, then one per side table
// over the whole id list, so listing 10,000 trials costs four queries, not 40,000.
import type { SqlConnection, SqlParam } from './connection.ts';
import { decodeJson, realOut } from './json.ts';
import type { TrialQuery, TrialRow, TrialState } from './types.ts';

interface TrialDbRow {
  id: number;
  study_id: number;
  number: number;
  state: TrialState;
  started: number | null;
  finished: number | null;
  heartbeat: number | null;
  worker: string | null;
  error: string | null;
  retry_of: number | null;
  x: string | null;
  decoded: string | null;
  tag: string | null;
}

const SELECT_TRIALS = `
  SELECT t.id, t.study_id, t.number, t.state, t.started, t.finished, t.heartbeat, t.worker, t.error,
         t.retry_of, p.x, p.decoded, p.tag
  FROM trials t LEFT JOIN trial_params p ON p.trial_id = t.id`;

const STALE = `${SELECT_TRIALS}
  WHERE t.study_id = ? AND t.state = 'RUNNING' AND COALESCE(t.heartbeat, 0) < ?
  ORDER BY t.number`;

function assemble(db: SqlConnection, rows: TrialDbRow[]): TrialRow[] {
  const out: TrialRow[] = [];
  const byId = new Map<number, TrialRow>();
  for (const r of rows) {
    const t: TrialRow = {
      id: r.id,
      studyId: r.study_id,
      number: r.number,
      state: r.state,
      started: r.started,
      finished: r.finished,
      heartbeat: r.heartbeat,
      worker: r.worker,
      error: r.error,
      retryOf: r.retry_of,
      x: (decodeJson(r.x) ?? []) as number[],
      decoded: decodeJson(r.decoded),
      tag: decodeJson(r.tag),
      values: r.state === 'COMPLETE' ? [] : null,
      intermediate: [],
      attrs: {},
    };
    out.push(t);
    byId.set(t.id, t);
  }
  if (out.length === 0) return out;
  const ids = db.dialect.inList('trial_id', out.map((t) => t.id));
  for (const v of db.all<{ trial_id: number; idx: number; value: number | null }>(`SELECT trial_id, idx, value FROM trial_values WHERE ${ids.sql} ORDER BY trial_id, idx`, [ids.param])) {
    const values = byId.get(v.trial_id)?.values;
    if (values) values[v.idx] = realOut(v.value);
  }
  for (const p of db.all<{ trial_id: number; step: number; value: number | null }>(`SELECT trial_id, step, value FROM intermediate_values WHERE ${ids.sql} ORDER BY trial_id, step`, [ids.param])) {
    byId.get(p.trial_id)?.intermediate.push({ step: p.step, value: realOut(p.value) });
  }
  for (const a of db.all<{ trial_id: number; key: string; value: string }>(`SELECT trial_id, key, value FROM trial_attrs WHERE ${ids.sql} ORDER BY trial_id, key`, [ids.param])) {
    const t = byId.get(a.trial_id);
    if (t) t.attrs[a.key] = decodeJson(a.value);
  }
  return out;
}

export function queryTrials(db: SqlConnection, studyId: number, q: TrialQuery = {}): TrialRow[] {
  if (q.states !== undefined && q.states.length === 0) return [];
  let sql = `${SELECT_TRIALS} WHERE t.study_id = ? AND t.number > ?`;
  const params: SqlParam[] = [studyId, q.after ?? -1];
  if (q.states !== undefined) {
    const states = db.dialect.inList('t.state', q.states);
    sql += ` AND ${states.sql}`;
    params.push(states.param);
  }
  sql += ' ORDER BY t.number';
  if (q.limit !== undefined) {
    sql += ' LIMIT ?';
    params.push(q.limit);
  }
  return assemble(db, db.all<TrialDbRow>(sql, params));
}

export function staleTrials(db: SqlConnection, studyId: number, before: number): TrialRow[] {
  return assemble(db, db.all<TrialDbRow>(STALE, [studyId, before]));
}
