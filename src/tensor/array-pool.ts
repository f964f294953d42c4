// Recycles large float32 arrays between chunks. Fresh multi-megabyte arrays cost page faults and
// zeroing on every chunk (about a tenth of a merge's time); arrays handed back here are reused.
// A recycled array's contents are stale: take() is only for arrays the caller fills completely.

export class F32Pool {
  private readonly free = new Map<number, Float32Array[]>();
  private pooledBytes = 0;

  constructor(private readonly maxBytes = 192 * 1024 * 1024) {}

  take(n: number): Float32Array {
    const a = this.free.get(n)?.pop();
    if (a) {
      this.pooledBytes -= n * 4;
      return a;
    }
    return new Float32Array(n);
  }

  give(a: Float32Array): void {
    // Only whole arrays (not views into something else) can be handed out again.
    if (a.byteOffset !== 0 || a.byteLength !== a.buffer.byteLength || a.length === 0) return;
    if (this.pooledBytes + a.byteLength > this.maxBytes) return;
    let list = this.free.get(a.length);
    if (!list) this.free.set(a.length, (list = []));
    list.push(a);
    this.pooledBytes += a.byteLength;
  }

  clear(): void {
    this.free.clear();
    this.pooledBytes = 0;
  }
}
