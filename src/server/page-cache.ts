// Serialised answers of the read routes (trial pages, CSV, fronts), reused while they are fresh.
// A report page polls every 2 s and many pages may watch one study; building a page of a thousand
// trials (read, decode, serialise) takes tens of milliseconds of the server's only thread, so
// under load every request paid it and latency grew with the queue (p99 of tens of seconds).
//
// An answer is reused when the database has not changed since it was built (StudyStore.changeStamp)
// or, while a search keeps writing, when it is younger than `maxStaleMs`: then one request
// rebuilds it per `maxStaleMs` instead of every request, and an answer lags the database by at
// most that long (the page's own polling interval is four times longer). The cache is small
// and bounded (least recently used out), and keyed by the route's parameters, never by headers.
export class PageCache {
  private readonly entries = new Map<string, { stamp: string; built: number; body: Buffer }>();
  hits = 0;
  misses = 0;

  constructor(
    private readonly maxStaleMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxEntries = 64,
  ) {}

  /** The body for `key` as of `stamp`, from the cache or from `build` (encoded once, as UTF-8). */
  get(key: string, stamp: string, build: () => string): Buffer {
    const e = this.entries.get(key);
    const t = this.now();
    if (e && (e.stamp === stamp || t - e.built < this.maxStaleMs)) {
      this.hits++;
      // Re-insert: Map order is the recency order evicted from.
      this.entries.delete(key);
      this.entries.set(key, e);
      return e.body;
    }
    this.misses++;
    const body = Buffer.from(build(), 'utf8');
    this.entries.delete(key);
    this.entries.set(key, { stamp, built: t, body });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return body;
  }
}
