// The study store's public shapes. Times of trials are epoch milliseconds; creation times of
// studies and notes are ISO strings (they are shown, never computed with).

export type Direction = 'maximize' | 'minimize';

export interface ObjectiveRow {
  name: string;
  direction: Direction;
}

export interface StudyRow {
  id: number;
  name: string;
  config: unknown;
  backend: string;
  seed: number;
  optimizer: string;
  created: string;
  objectives: ObjectiveRow[];
}

export interface NewStudy {
  name: string;
  config: unknown;
  backend: string;
  seed: number;
  optimizer: string;
  objectives: ObjectiveRow[];
}

export const TRIAL_STATES = ['WAITING', 'RUNNING', 'COMPLETE', 'PRUNED', 'FAIL'] as const;
export type TrialState = (typeof TRIAL_STATES)[number];

export interface TrialRow {
  id: number;
  studyId: number;
  /** 0, 1, 2, ... within the study, in creation order. */
  number: number;
  state: TrialState;
  started: number | null;
  finished: number | null;
  /** Last sign of life from the worker running it (ms); null before it runs. */
  heartbeat: number | null;
  worker: string | null;
  error: string | null;
  /** Number of the failed trial this one repeats. */
  retryOf: number | null;
  x: number[];
  /** `null` when none was given. */
  decoded: unknown;
  tag: unknown;
  /** In objective order; null unless COMPLETE. */
  values: number[] | null;
  intermediate: Array<{ step: number; value: number }>;
  attrs: Record<string, unknown>;
}

export interface NewTrial {
  state: 'RUNNING' | 'WAITING';
  worker?: string;
  x: number[];
  decoded?: unknown;
  tag?: unknown;
  retryOf?: number;
}

export interface TrialResult {
  state: 'COMPLETE' | 'PRUNED' | 'FAIL';
  /** One per objective, required for COMPLETE; not stored for PRUNED and FAIL. */
  values?: number[];
  error?: string;
}

export interface TrialQuery {
  /** Only trials whose number is greater (a cursor for polling new trials). */
  after?: number;
  states?: TrialState[];
  limit?: number;
}

export type StudySummary = StudyRow & { counts: Record<TrialState, number> };
