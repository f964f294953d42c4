// The messages between PgConnection (main thread) and its client thread (pg-thread.mjs).

/** `id` names the connection: one thread serves every connection of the process. */
export type PgRequest =
  | { op: 'connect'; id: number; url: string; readonly: boolean; connectTimeoutMs: number; lockTimeoutMs: number }
  | { op: 'query'; id: number; sql: string; params: unknown[] }
  | { op: 'close'; id: number };

export type PgAnswer = { ok: true; rows: unknown[] } | { ok: false; error: { message: string; code?: string } };
