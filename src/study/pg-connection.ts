// The PostgreSQL backend: one database shared by workers on several hosts. The store's contract is
// synchronous (the trial loop runs optimizer code inside its transactions), and `pg` is not, so a
// worker thread owns the clients (pg-thread.mjs; one thread per process, started with the first
// connection) and this side blocks on Atomics.wait for each answer.
// A study's transactions are short (milliseconds against trials of minutes), so the round trip per
// statement costs nothing that matters, and one code path serves both backends.
//
// Writes take a transaction-scoped advisory lock first: the same "write lock up front" that SQLite's
// BEGIN IMMEDIATE gives, so a read-modify-write of the optimizer state (ask, tell) never interleaves
// with another worker's. Reads run in REPEATABLE READ transactions (one snapshot each).
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { MergeSearchError, fail } from '../errors.ts';
import type { SqlConnection, SqlParam } from './connection.ts';
import { POSTGRES } from './dialects.ts';
import { failConnect, failQuery, scrubPassword, type PgFailure } from './pg-error.ts';
import { migratePg } from './pg-schema.ts';
import type { PgAnswer, PgRequest } from './pg-thread-protocol.ts';

/** The advisory lock key of the store's write lock (the ASCII bytes of 'mergese' as one int8). */
const WRITE_LOCK_KEY = '30792314496840549';
const CONNECT_TIMEOUT_MS = 10_000;
const LOCK_TIMEOUT_MS = 60_000;
/** The thread answers within the lock timeout; this only stops a hang if it died. */
const ANSWER_TIMEOUT_MS = 5 * 60_000;

interface ClientThread {
  worker: Worker;
  port: MessagePort;
  signal: Int32Array;
}

let shared: ClientThread | undefined;
let nextId = 1;

/** The process's client thread, started on first use. */
function clientThread(): ClientThread {
  if (shared) return shared;
  const flag = new SharedArrayBuffer(4);
  const { port1, port2 } = new MessageChannel();
  const entry = new URL('./pg-thread.mjs', import.meta.url);
  // The caller blocks on Atomics.wait and cannot hear a thread that never loads: check it is there.
  if (!fs.existsSync(fileURLToPath(entry))) fail('STUDY_E_CONNECT', `the PostgreSQL client thread ${fileURLToPath(entry)} is missing; rebuild with \`npm run build\` (or set MERGESEARCH_FROM_SOURCE=1)`);
  const worker = new Worker(entry, { workerData: { flag, port: port2 }, transferList: [port2] });
  // The thread never keeps the process alive: a process that forgot close() still exits.
  worker.unref();
  port1.unref();
  const t: ClientThread = { worker, port: port1, signal: new Int32Array(flag) };
  worker.on('exit', () => {
    if (shared === t) shared = undefined;
  });
  shared = t;
  return t;
}

export class PgConnection implements SqlConnection {
  readonly dialect = POSTGRES;
  private readonly thread = clientThread();
  private readonly id = nextId++;
  private readonly placeholders = new Map<string, string>();
  /** Open transactions and savepoints. */
  private depth = 0;
  private closed = false;

  private constructor(
    private readonly url: string,
    readonly location: string,
    readonly readonly: boolean,
  ) {}

  /** Connect to `url` (shown as `label`, without its password) and bring the schema up to date. */
  static open(url: string, label: string, readonly: boolean): PgConnection {
    const c = new PgConnection(url, label, readonly);
    try {
      const a = c.ask({ op: 'connect', id: c.id, url, readonly, connectTimeoutMs: CONNECT_TIMEOUT_MS, lockTimeoutMs: LOCK_TIMEOUT_MS });
      if (!a.ok) failConnect(c.scrub(a.error), label);
      migratePg(c, label, readonly);
    } catch (e) {
      c.close();
      throw e;
    }
    return c;
  }

  all<T>(sql: string, params: readonly SqlParam[] = []): T[] {
    return this.query(sql, params) as T[];
  }

  get<T>(sql: string, params: readonly SqlParam[] = []): T | undefined {
    return this.query(sql, params)[0] as T | undefined;
  }

  run(sql: string, params: readonly SqlParam[] = []): void {
    this.query(sql, params);
  }

  transaction<T>(fn: () => T): T {
    if (this.depth > 0) return this.savepoint(fn);
    this.query(`BEGIN; SELECT pg_advisory_xact_lock(${WRITE_LOCK_KEY})`, []);
    return this.finish(fn);
  }

  read<T>(fn: () => T): T {
    if (this.depth > 0) return fn();
    this.query('BEGIN ISOLATION LEVEL REPEATABLE READ', []);
    return this.finish(fn);
  }

  /**
   * The server's snapshot (xmin:xmax:in-progress ids): it changes when any transaction that wrote
   * commits, so two equal stamps mean the data read in between is still current. (It changes on
   * writes to other databases of the server too; that only costs a cache miss.)
   */
  changeStamp(): string {
    return this.get<{ s: string }>('SELECT CAST(pg_current_snapshot() AS text) AS s')!.s;
  }

  close(): void {
    if (this.closed) return;
    try {
      this.ask({ op: 'close', id: this.id });
    } catch {
      // the thread is gone already
    }
    this.closed = true;
  }

  private savepoint<T>(fn: () => T): T {
    const name = `s${this.depth}`;
    this.query(`SAVEPOINT ${name}`, []);
    this.depth++;
    try {
      const out = fn();
      this.depth--;
      this.query(`RELEASE SAVEPOINT ${name}`, []);
      return out;
    } catch (e) {
      this.depth--;
      this.query(`ROLLBACK TO SAVEPOINT ${name}; RELEASE SAVEPOINT ${name}`, []);
      throw e;
    }
  }

  private finish<T>(fn: () => T): T {
    this.depth++;
    let out: T;
    try {
      out = fn();
    } catch (e) {
      this.depth = 0;
      try {
        this.query('ROLLBACK', []);
      } catch {
        // the connection is gone: the server rolls back by itself
      }
      throw e;
    }
    this.depth = 0;
    this.query('COMMIT', []);
    return out;
  }

  private query(sql: string, params: readonly SqlParam[]): unknown[] {
    const a = this.ask({ op: 'query', id: this.id, sql: params.length === 0 ? sql : this.numbered(sql), params: [...params] });
    if (a.ok) return a.rows;
    return failQuery(this.scrub(a.error), this.location, this.readonly);
  }

  /** `?` placeholders as $1, $2, ... (the store's SQL has no `?` inside literals). */
  private numbered(sql: string): string {
    let out = this.placeholders.get(sql);
    if (out === undefined) {
      let n = 0;
      out = sql.replace(/\?/g, () => `$${++n}`);
      this.placeholders.set(sql, out);
    }
    return out;
  }

  private scrub(e: PgFailure): PgFailure {
    return { ...e, message: scrubPassword(e.message, this.url) };
  }

  private ask(req: PgRequest): PgAnswer {
    if (this.closed) fail('STUDY_E_CONNECT', `the connection to ${this.location} is closed`);
    const { port, signal } = this.thread;
    Atomics.store(signal, 0, 0);
    port.postMessage(req);
    const deadline = Date.now() + ANSWER_TIMEOUT_MS;
    while (Atomics.load(signal, 0) === 0) {
      if (Atomics.wait(signal, 0, 0, 1000) === 'timed-out' && Date.now() > deadline) {
        throw new MergeSearchError('STUDY_E_CONNECT', `no answer from the PostgreSQL client thread for ${this.location} in ${ANSWER_TIMEOUT_MS / 1000} s; check the server and run again`);
      }
    }
    const got = receiveMessageOnPort(port);
    if (got === undefined) throw new Error(`the PostgreSQL client thread for ${this.location} signalled an answer but sent none`);
    return got.message as PgAnswer;
  }
}
