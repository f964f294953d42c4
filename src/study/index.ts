export { StudyStore } from './store.ts';
export { SCHEMA_VERSION } from './schema.ts';
export { encodeJson, decodeJson } from './json.ts';
export {
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
