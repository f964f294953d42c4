// Copying studies between stores (`mergesearch db copy`): every study with its objectives, trials
// (numbers, states, stamps, workers, params, values, intermediate values, attributes), optimizer
// state, study attributes and notes, written in one transaction on the target, so a copy is whole
// or absent. Ids are the target's own; everything a user sees is kept as it was.
import { fail } from '../errors.ts';
import { encodeJson } from './json.ts';
import type { StudyStore } from './store.ts';

export interface CopyResult {
  studies: Array<{ name: string; trials: number }>;
}

/** Copy the studies named (default: all) from `from` to `to`; a name taken in `to` is refused. */
export function copyStudies(from: StudyStore, to: StudyStore, names?: readonly string[]): CopyResult {
  const all = from.listStudies();
  const chosen = names === undefined || names.length === 0 ? all : names.map((n) => all.find((s) => s.name === n) ?? from.getStudy(n));
  const taken = chosen.filter((s) => to.findStudy(s.name) !== undefined).map((s) => s.name);
  if (taken.length > 0) {
    fail('STUDY_E_EXISTS', `${to.file} holds studies named ${taken.map((n) => `"${n}"`).join(', ')} already; nothing was copied. Copy the others with --study NAME, or to another database`);
  }
  const out: CopyResult = { studies: [] };
  to.transaction(() => {
    for (const s of chosen) {
      const source = from.studyById(s.id);
      const study = to.createStudy({ name: source.name, config: source.config, backend: source.backend, seed: source.seed, optimizer: source.optimizer, objectives: source.objectives });
      to.db.run(`UPDATE studies SET created = ? WHERE id = ?`, [source.created, study.id]);
      const trials = from.trials(source.id);
      for (const t of trials) {
        const created = to.createTrial(study.id, { state: 'WAITING', x: t.x, ...(t.decoded !== null ? { decoded: t.decoded } : {}), ...(t.tag !== null ? { tag: t.tag } : {}), ...(t.retryOf !== null ? { retryOf: t.retryOf } : {}) });
        if (created.number !== t.number) throw new Error(`copy: trial ${t.number} of "${source.name}" would become trial ${created.number}`);
        if (t.intermediate.length > 0) to.addIntermediate(study.id, t.number, t.intermediate);
        for (const [k, v] of Object.entries(t.attrs)) to.setTrialAttr(study.id, t.number, k, v);
        if (t.values) t.values.forEach((v, i) => to.db.run(`INSERT INTO trial_values (trial_id, idx, value) VALUES (?, ?, ?)`, [created.id, i, v]));
        to.db.run(`UPDATE trials SET state = ?, started = ?, finished = ?, heartbeat = ?, worker = ?, error = ? WHERE id = ?`, [t.state, t.started, t.finished, t.heartbeat, t.worker, t.error, created.id]);
      }
      const state = from.loadOptimizerState(source.id);
      if (state) {
        to.db.run(`INSERT INTO optimizer_state (study_id, state, updated, version) VALUES (?, ?, ?, ?)`, [study.id, encodeJson(state.state), new Date().toISOString(), state.version]);
      }
      for (const [k, v] of Object.entries(from.studyAttrs(source.id))) to.setStudyAttr(study.id, k, v);
      for (const n of from.notes(source.id)) to.db.run(`INSERT INTO notes (study_id, created, text) VALUES (?, ?, ?)`, [study.id, n.created, n.text]);
      out.studies.push({ name: source.name, trials: trials.length });
    }
  });
  return out;
}
