export { StudyStore, type OpenOptions } from './store.ts';
export { SCHEMA_VERSION } from './sqlite-schema.ts';
export { encodeJson, decodeJson } from './json.ts';
export { parseLocation, redactUrl, type Location } from './location.ts';
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
