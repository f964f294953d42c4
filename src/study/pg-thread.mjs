// The worker thread behind PgConnection (pg-connection.ts): it owns the `pg` clients of the
// process's connections (one thread for all, so opening a store costs a connect, not a thread
// start) and answers one request at a time (messages: pg-thread-protocol.ts). The main thread blocks on an Atomics.wait
// over a shared flag until the answer is posted, so the store stays synchronous while the client's
// socket I/O runs on this thread's event loop. Plain JavaScript: loading the TypeScript loader in
// the thread would add a second to every store opened.
import { workerData } from 'node:worker_threads';
import pg from 'pg';

const { flag, port } = workerData;
const signal = new Int32Array(flag);
/**
 * Per connection id: the client, the error that dropped it (every later request fails with it),
 * and its named statements (parsed and planned once per connection, not on every call).
 * @type {Map<number, { client: pg.Client, lost?: Error, prepared: Map<string, string> }>}
 */
const conns = new Map();
const INT8_OID = 20;
const FLOAT8_OID = 701;
/** float8 text → number; -0 reads as 0, as it does from SQLite's REAL columns. */
const float8 = (text) => parseFloat(text) || (text.startsWith('N') ? NaN : 0);

function answer(a) {
  port.postMessage(a);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
}

async function connect(req) {
  // BIGINT ids, counts and epoch-ms stamps come back as numbers (they stay far below 2^53).
  const types = { getTypeParser: (oid, format) => (oid === INT8_OID ? Number : oid === FLOAT8_OID ? float8 : pg.types.getTypeParser(oid, format)) };
  const c = new pg.Client({ connectionString: req.url, connectionTimeoutMillis: req.connectTimeoutMs, application_name: 'mergesearch', keepAlive: true, types });
  const conn = { client: c, lost: undefined, prepared: new Map() };
  c.on('error', (e) => {
    conn.lost = e;
  });
  await c.connect();
  conns.set(req.id, conn);
  // A writer waits for the store's lock as long as SQLite's busy timeout, then says it is busy.
  await c.query(`SET lock_timeout = ${Math.round(req.lockTimeoutMs)}`);
  if (req.readonly) await c.query('SET default_transaction_read_only = on');
}

async function handle(req) {
  if (req.op === 'connect') {
    await connect(req);
    return [];
  }
  const conn = conns.get(req.id);
  if (req.op === 'close') {
    conns.delete(req.id);
    await conn?.client.end().catch(() => {});
    return [];
  }
  if (!conn) throw new Error('not connected');
  if (conn.lost) throw conn.lost;
  const { client, prepared } = conn;
  let r;
  if (req.params.length === 0) {
    // The simple protocol runs several statements at once (migrations, BEGIN + lock).
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
  return last?.rows ?? [];
}

port.on('message', (req) => {
  handle(req).then(
    (rows) => answer({ ok: true, rows }),
    (e) => {
      answer({ ok: false, error: { message: e?.message ?? String(e), code: typeof e?.code === 'string' ? e.code : undefined } });
    },
  );
});
