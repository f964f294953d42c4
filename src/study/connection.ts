// What the study store needs from a database: run a statement, run a function atomically under the
// store's write lock, read several statements from one snapshot, and say whether anything changed.
// One implementation per backend (sqlite-connection.ts, pg-connection.ts); both are synchronous,
// because every caller of the store (the trial loop's transactions wrap optimizer code) is.
import type { Dialect } from './dialects.ts';

/** A statement parameter: placeholders are `?`, in order. */
export type SqlParam = string | number | null | readonly (string | number)[];

export interface SqlConnection {
  readonly dialect: Dialect;
  /** Where the studies are, for messages: the file, or the URL without its password. */
  readonly location: string;
  readonly readonly: boolean;
  all<T>(sql: string, params?: readonly SqlParam[]): T[];
  /** The first row, or undefined. */
  get<T>(sql: string, params?: readonly SqlParam[]): T | undefined;
  run(sql: string, params?: readonly SqlParam[]): void;
  /**
   * Run `fn` atomically with the write lock taken up front (so a read-modify-write cannot
   * interleave with another process's); nested calls become savepoints.
   */
  transaction<T>(fn: () => T): T;
  /** Run reads that must see one snapshot; inside a transaction, just runs `fn`. */
  read<T>(fn: () => T): T;
  /** Changes whenever the stored data may have changed; equal values mean nothing was written. */
  changeStamp(): string;
  close(): void;
}
