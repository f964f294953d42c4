// The worker thread behind PgConnection: it owns the `pg` client and answers one request at a time.
// The main thread blocks on an Atomics.wait over a shared flag until the answer is posted, so the
// store stays synchronous while the client's socket I/O runs on this thread's event loop.
import { workerData, type MessagePort } from 'node:worker_threads';
import type pgTypes from 'pg';

export type PgRequest =
  | { op: 'connect'; url: string; readonly: boolean; connectTimeoutMs: number; lockTimeoutMs: number }
  | { op: 'query'; sql: string; params: unknown[] }
  | { op: 'close' };

export type PgAnswer = { ok: true; rows: unknown[] } | { ok: false; error: { message: string; code?: string } };

const { flag, port } = workerData as { flag: SharedArrayBuffer; port: MessagePort };
const signal = new Int32Array(flag);
let client: pgTypes.Client | undefined;
/** Set when the server dropped the connection: every later request fails with it. */
let lost: Error | undefined;
const prepared = new Map<string, string>();

function answer(a: PgAnswer): void {
  port.postMessage(a);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
}

const INT8_OID = 20;

async function connect(req: Extract<PgRequest, { op: 'connect' }>): Promise<void> {
  const pg = (await import('pg')).default;
  // BIGINT ids, counts and epoch-ms stamps come back as numbers (they stay far below 2^53).
  const types = { getTypeParser: ((oid: number, format?: string) => (oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser };
  const c = new pg.Client({ connectionString: req.url, connectionTimeoutMillis: req.connectTimeoutMs, application_name: 'mergesearch', keepAlive: true, types });
  c.on('error', (e) => {
    lost = e;
  });
  await c.connect();
  client = c;
  // A writer waits for the store's lock as long as SQLite's busy timeout, then says it is busy.
  await c.query(`SET lock_timeout = ${Math.round(req.lockTimeoutMs)}`);
  if (req.readonly) await c.query('SET default_transaction_read_only = on');
}

async function handle(req: PgRequest): Promise<unknown[]> {
  if (req.op === 'connect') {
    await connect(req);
    return [];
  }
  if (req.op === 'close') {
    const c = client;
    client = undefined;
    await c?.end().catch(() => {});
    return [];
  }
  if (lost) throw lost;
  if (!client) throw new Error('not connected');
  // Without parameters the simple protocol runs several statements at once (migrations, BEGIN).
  // With them, a named statement is parsed and planned once per connection, not on every call.
  let r;
  if (req.params.length === 0) {
    r = await client.query(req.sql);
  } else {
    let name = prepared.get(req.sql);
    if (name === undefined) {
      name = `ms${prepared.size}`;
      prepared.set(req.sql, name);
    }
    r = await client.query({ name, text: req.sql, values: req.params });
  }
  const last = Array.isArray(r) ? r[r.length - 1] : r;
  return (last?.rows ?? []) as unknown[];
}

port.on('message', (req: PgRequest) => {
  handle(req).then(
    (rows) => {
      answer({ ok: true, rows });
      if (req.op === 'close') port.close();
    },
    (e: unknown) => {
      const err = e as Error & { code?: unknown };
      answer({ ok: false, error: { message: err?.message ?? String(e), code: typeof err?.code === 'string' ? err.code : undefined } });
    },
  );
});
