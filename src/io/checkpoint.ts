// A checkpoint: a folder with model.safetensors, a sharded folder with model.safetensors.index.json,
// or a single .safetensors file. Tensors are reached by name, lazily, across shards.
import fs from 'node:fs';
import path from 'node:path';
import { fail } from '../errors.ts';
import { pathPresent, readRegularFile, statInput } from './file-checks.ts';
import { SafetensorsFile, type TensorInfo } from './safetensors-reader.ts';

export const INDEX_FILE = 'model.safetensors.index.json';

export interface ModelConfig {
  raw: Record<string, unknown>;
  architecture?: string;
  numLayers?: number;
}

export class Checkpoint {
  readonly path: string;
  /** The folder holding the checkpoint (the file's folder for a single-file checkpoint). */
  readonly dir: string;
  readonly files: SafetensorsFile[];
  readonly tensors: Map<string, TensorInfo>;
  readonly config: ModelConfig | undefined;
  private readonly byFile: Map<string, SafetensorsFile>;

  private constructor(p: string, dir: string, files: SafetensorsFile[], tensors: Map<string, TensorInfo>, config?: ModelConfig) {
    this.path = p;
    this.dir = dir;
    this.files = files;
    this.tensors = tensors;
    this.config = config;
    this.byFile = new Map(files.map((f) => [f.path, f]));
  }

  static open(p: string): Checkpoint {
    // FIFOs, devices and link loops are refused here, before anything opens them (file-checks.ts).
    if (statInput(p, 'checkpoint') === 'file') {
      const file = SafetensorsFile.open(p);
      try {
        return new Checkpoint(p, path.dirname(p), [file], new Map(file.tensors), readConfig(path.dirname(p)));
      } catch (e) {
        file.close();
        throw e;
      }
    }
    const files = listShards(p);
    const opened: SafetensorsFile[] = [];
    try {
      for (const f of files.shards) opened.push(SafetensorsFile.open(f));
      const tensors = new Map<string, TensorInfo>();
      for (const f of opened) {
        for (const [name, info] of f.tensors) {
          const prev = tensors.get(name);
          if (prev) fail('IO_E_INDEX', `tensor ${name} appears in both ${prev.file} and ${f.path}; remove the duplicate shard`);
          tensors.set(name, info);
        }
      }
      if (files.weightMap) {
        for (const [name, file] of Object.entries(files.weightMap)) {
          const info = tensors.get(name);
          if (!info) fail('IO_E_INDEX', `${path.join(p, INDEX_FILE)} maps tensor ${name} to ${file}, but that file does not contain it`);
          if (path.resolve(info.file) !== path.resolve(p, file)) {
            fail('IO_E_INDEX', `${path.join(p, INDEX_FILE)} maps tensor ${name} to ${file}, but it is in ${path.basename(info.file)}`);
          }
        }
      }
      return new Checkpoint(p, p, opened, tensors, readConfig(p));
    } catch (e) {
      for (const f of opened) f.close();
      throw e;
    }
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) fail('IO_E_NO_TENSOR', `tensor ${name} is not in checkpoint ${this.path}`);
    return t;
  }

  fileOf(name: string): SafetensorsFile {
    return this.byFile.get(this.info(name).file)!;
  }

  readF32(name: string, rowStart?: number, rowEnd?: number, into?: Float32Array): Float32Array {
    return this.fileOf(name).readF32(name, rowStart, rowEnd, into);
  }

  readRaw(name: string, rowStart?: number, rowEnd?: number): Uint8Array {
    return this.fileOf(name).readRaw(name, rowStart, rowEnd);
  }

  /** Layer count from config.json, else from tensor names (highest layer index + 1). */
  numLayers(): number {
    return this.config?.numLayers ?? layerCountFromNames(this.tensors.keys());
  }

  totalBytes(): number {
    let n = 0;
    for (const t of this.tensors.values()) n += t.byteLength;
    return n;
  }

  close(): void {
    for (const f of this.files) f.close();
  }
}

function listShards(dir: string): { shards: string[]; weightMap?: Record<string, string> } {
  const indexPath = path.join(dir, INDEX_FILE);
  if (fs.existsSync(indexPath)) {
    let index: { weight_map?: unknown };
    const text = readRegularFile(indexPath, 'index');
    try {
      index = JSON.parse(text);
    } catch (e) {
      fail('IO_E_INDEX', `${indexPath} is not valid JSON (${(e as Error).message})`);
    }
    if (typeof index !== 'object' || index === null) fail('IO_E_INDEX', `${indexPath} must hold a JSON object with a weight_map`);
    const wm = index.weight_map;
    if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) fail('IO_E_INDEX', `${indexPath} has no weight_map object`);
    const weightMap = wm as Record<string, string>;
    const shards = [...new Set(Object.values(weightMap))];
    for (const s of shards) {
      if (typeof s !== 'string' || s.includes('/') || s.includes('\\')) fail('IO_E_INDEX', `${indexPath} names an invalid shard file ${JSON.stringify(s)}`);
      if (!fs.existsSync(path.join(dir, s))) fail('IO_E_INDEX', `${indexPath} names shard ${s}, which is missing from ${dir}`);
    }
    return { shards: shards.sort().map((s) => path.join(dir, s)), weightMap };
  }
  const single = path.join(dir, 'model.safetensors');
  if (fs.existsSync(single)) return { shards: [single] };
  const any = fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort();
  if (any.length === 0) fail('IO_E_NOT_FOUND', `${dir} holds no .safetensors file (expected model.safetensors or ${INDEX_FILE})`);
  return { shards: any.map((f) => path.join(dir, f)) };
}

function readConfig(dir: string): ModelConfig | undefined {
  const p = path.join(dir, 'config.json');
  if (!pathPresent(p)) return undefined;
  const text = readRegularFile(p, 'config');
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    fail('IO_E_CONFIG', `${p} is not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('IO_E_CONFIG', `${p} must hold a JSON object`);
  const archs = raw.architectures;
  const architecture = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : undefined;
  const n = raw.num_hidden_layers ?? raw.n_layer ?? raw.num_layers;
  return { raw, architecture, numLayers: typeof n === 'number' ? n : undefined };
}

const LAYER_RE = /(?:^|\.)(?:layers|h|blocks|block|layer)\.(\d+)\./;

/** Index of the transformer layer a tensor belongs to, or undefined for tensors outside layers. */
export function layerIndexOf(name: string): number | undefined {
  const m = LAYER_RE.exec(name);
  return m ? Number(m[1]) : undefined;
}

export function layerCountFromNames(names: Iterable<string>): number {
  let max = -1;
  for (const n of names) max = Math.max(max, layerIndexOf(n) ?? -1);
  return max + 1;
}
