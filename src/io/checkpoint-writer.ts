// Writes a checkpoint folder: one model.safetensors or shards bounded by a byte size with an
// HF-style index. Everything goes to a temporary folder beside the output, renamed into place
// only when complete, so a failed or killed run never leaves a half-written checkpoint.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fail } from '../errors.ts';
import { INDEX_FILE } from './checkpoint.ts';
import { SafetensorsWriter, tensorByteLength, type PlannedTensor, type PlacedTensor } from './safetensors-writer.ts';

export interface CheckpointWriterOptions {
  shardSize?: number;
  metadata?: Record<string, string>;
  overwrite?: boolean;
}

export class CheckpointWriter {
  readonly outDir: string;
  readonly tmpDir: string;
  private readonly writers: SafetensorsWriter[] = [];
  private readonly byTensor = new Map<string, SafetensorsWriter>();
  private readonly overwrite: boolean;
  private finished = false;

  constructor(outDir: string, tensors: PlannedTensor[], opts: CheckpointWriterOptions = {}) {
    this.outDir = path.resolve(outDir);
    this.overwrite = opts.overwrite ?? false;
    checkOutput(this.outDir, this.overwrite);
    try {
      fs.mkdirSync(path.dirname(this.outDir), { recursive: true });
    } catch (e) {
      fail('IO_E_WRITE', `cannot create the folder for ${this.outDir}: ${(e as Error).message}`);
    }
    removeStalePartials(this.outDir);
    this.tmpDir = mkdtemp(path.join(path.dirname(this.outDir), `.${path.basename(this.outDir)}.partial-${process.pid}-`));
    unfinished.add(this.tmpDir);
    try {
      const shards = planShards(tensors, opts.shardSize ?? Infinity);
      const names = shards.length === 1
        ? ['model.safetensors']
        : shards.map((_, i) => `model-${pad5(i + 1)}-of-${pad5(shards.length)}.safetensors`);
      const metadata = { format: 'pt', ...opts.metadata };
      const weightMap: Record<string, string> = Object.create(null);
      shards.forEach((shard, i) => {
        const w = new SafetensorsWriter(path.join(this.tmpDir, names[i]!), shard, metadata);
        this.writers.push(w);
        for (const t of shard) {
          this.byTensor.set(t.name, w);
          weightMap[t.name] = names[i]!;
        }
      });
      if (shards.length > 1) {
        const totalSize = tensors.reduce((a, t) => a + tensorByteLength(t), 0);
        this.addFile(INDEX_FILE, JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2) + '\n');
      }
    } catch (e) {
      this.abort();
      throw e;
    }
  }

  placement(name: string): { fd: number; placed: PlacedTensor; file: string } {
    const w = this.byTensor.get(name);
    if (!w) fail('IO_E_WRITE', `tensor ${name} was not planned for ${this.outDir}`);
    return { fd: w.fd, placed: w.placed.get(name)!, file: w.path };
  }

  write(name: string, bytes: Uint8Array, byteOffset = 0): void {
    const w = this.byTensor.get(name);
    if (!w) fail('IO_E_WRITE', `tensor ${name} was not planned for ${this.outDir}`);
    w.write(name, bytes, byteOffset);
  }

  addFile(name: string, content: string | Uint8Array): void {
    try {
      fs.writeFileSync(path.join(this.tmpDir, name), content);
    } catch (e) {
      fail('IO_E_WRITE', `cannot write ${name} into ${this.tmpDir}: ${(e as Error).message}`);
    }
  }

  copyFile(from: string, name = path.basename(from)): void {
    try {
      fs.copyFileSync(from, path.join(this.tmpDir, name));
    } catch (e) {
      fail('IO_E_WRITE', `cannot copy ${from} into the output: ${(e as Error).message}`);
    }
  }

  /** Close every file and move the finished folder into place. */
  commit(): void {
    if (this.finished) fail('IO_E_WRITE', `the checkpoint for ${this.outDir} was already committed or aborted`);
    for (const w of this.writers) w.close();
    this.writers.length = 0;
    // Replacing: move the old folder aside, move the new one in, then delete the old one, so a
    // kill at any point leaves one complete checkpoint at --out or beside it.
    let old: string | undefined;
    if (fs.existsSync(this.outDir)) {
      checkOutput(this.outDir, this.overwrite);
      old = `${this.tmpDir}.old`;
      fs.renameSync(this.outDir, old);
    }
    fs.renameSync(this.tmpDir, this.outDir);
    if (old) fs.rmSync(old, { recursive: true, force: true });
    unfinished.delete(this.tmpDir);
    this.finished = true;
  }

  /** Drop the temporary folder; the output path is left as it was. */
  abort(): void {
    if (this.finished) return;
    for (const w of this.writers) {
      try {
        fs.closeSync(w.fd);
      } catch {
        // already closed
      }
    }
    this.writers.length = 0;
    fs.rmSync(this.tmpDir, { recursive: true, force: true });
    unfinished.delete(this.tmpDir);
    this.finished = true;
  }
}

/** Temporary folders of writers still open in this process. */
const unfinished = new Set<string>();

/** Remove every unfinished temporary folder (for a signal handler: synchronous, never throws). */
export function removeUnfinishedOutputs(): void {
  for (const dir of unfinished) fs.rmSync(dir, { recursive: true, force: true });
  unfinished.clear();
}

/** Temporary folders left beside `outDir` by runs that were killed (their process is gone). */
function removeStalePartials(outDir: string): void {
  const parent = path.dirname(outDir);
  if (!fs.existsSync(parent)) return;
  const prefix = `.${path.basename(outDir)}.partial-`;
  for (const name of fs.readdirSync(parent)) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && !processAlive(pid)) fs.rmSync(path.join(parent, name), { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A new folder named `prefix` + random characters. Not fs.mkdtempSync: that makes it mode 0700
 * whatever the umask, and this folder becomes the output; mkdirSync applies the umask like any
 * other folder the user creates.
 */
function mkdtemp(prefix: string): string {
  for (let attempt = 0; ; attempt++) {
    const dir = `${prefix}${randomBytes(6).toString('hex')}`;
    try {
      fs.mkdirSync(dir);
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && attempt < 10) continue;
      fail('IO_E_WRITE', `cannot create a temporary folder ${prefix}*: ${(e as Error).message}`);
    }
  }
}

function checkOutput(outDir: string, overwrite: boolean): void {
  if (!fs.existsSync(outDir)) return;
  if (!fs.statSync(outDir).isDirectory()) fail('IO_E_OUTPUT_EXISTS', `output ${outDir} exists and is a file; choose another --out`);
  if (!overwrite && fs.readdirSync(outDir).length > 0) {
    fail('IO_E_OUTPUT_EXISTS', `output folder ${outDir} is not empty; choose another --out or pass --overwrite`);
  }
}

/** Greedy, in order: a shard closes when the next tensor would push it past `shardSize`. */
export function planShards(tensors: PlannedTensor[], shardSize: number): PlannedTensor[][] {
  const shards: PlannedTensor[][] = [[]];
  let current = 0;
  for (const t of tensors) {
    const len = tensorByteLength(t);
    const last = shards[shards.length - 1]!;
    if (last.length > 0 && current + len > shardSize) {
      shards.push([t]);
      current = len;
    } else {
      last.push(t);
      current += len;
    }
  }
  return shards;
}

function pad5(n: number): string {
  return String(n).padStart(5, '0');
}

/** Parse sizes like 5GB, 500MB, 2GiB, 1000000 into bytes (decimal units as HF uses them). */
export function parseByteSize(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*((?:[KMGT]i?)?B?)\s*$/i.exec(s);
  if (!m) fail('CLI_E_ARG', `cannot read size ${JSON.stringify(s)}; write it like 5GB, 500MB or 2GiB`);
  const unit = (m[2] ?? '').toUpperCase();
  const binary = unit.includes('I');
  const power = { '': 0, K: 1, M: 2, G: 3, T: 4 }[unit.replace(/I?B?$/, '')] ?? 0;
  const bytes = Math.floor(Number(m[1]) * (binary ? 1024 : 1000) ** power);
  if (bytes <= 0) fail('CLI_E_ARG', `size ${s} must be positive`);
  return bytes;
}
