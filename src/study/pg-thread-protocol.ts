// The messages between PgConnection (main thread) and its client thread (pg-thread.mjs).

export type PgRequest =
  | { op: 'connect'; url: string; readonly: boolean; connectTimeoutMs: number; lockTimeoutMs: number }
  | { op: 'query'; sql: string; params: unknown[] }
  | { op: 'close' };

export type PgAnswer = { ok: true; rows: unknown[] } | { ok: false; error: { message: string; code?: string } };
