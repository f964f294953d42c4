// The cache behind the shared tiny zoos (test/helpers/tiny-zoos.ts): concurrent requests build once,
// a reader never sees a half-built folder, a lock left by a dead process is taken over, a failed
// build leaves nothing behind, and the key follows every source file the zoo builder imports.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTmp } from './helpers/io-tmp.ts';
import { cachedFolder, importClosure, TINY_MNIST8, TINY_SKILLS4, TINY_SKILLS4_FAST, tinyZooKey } from './helpers/tiny-zoos.ts';

const tmp = makeTmp('ms-zoo-cache-');
afterAll(() => tmp.cleanup());
const leftovers = (root: string) => fs.readdirSync(root).filter((n) => n.includes('.lock') || n.includes('.partial-'));

describe('cachedFolder', () => {
  it('concurrent requests build once; the others wait for the finished folder', async () => {
    const root = path.join(tmp.dir, 'concurrent');
    let builds = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const seenWhileBuilding: boolean[] = [];
    const build = async (out: string) => {
      builds++;
      fs.mkdirSync(out);
      fs.writeFileSync(path.join(out, 'half'), 'x');
      await gate;
      fs.writeFileSync(path.join(out, 'done'), 'ok');
    };
    // The first call takes the lock and waits in build; the others find the lock and poll.
    const calls = [0, 1, 2, 3].map(() => cachedFolder(root, 'thing', build, { pollMs: 5 }));
    seenWhileBuilding.push(fs.existsSync(path.join(root, 'thing')));
    release();
    const dirs = await Promise.all(calls);
    expect(seenWhileBuilding).toEqual([false]);
    expect(new Set(dirs)).toEqual(new Set([path.join(root, 'thing')]));
    expect(builds).toBe(1);
    expect(fs.readFileSync(path.join(root, 'thing', 'done'), 'utf8')).toBe('ok');
    expect(leftovers(root)).toEqual([]);
    // Later requests reuse it.
    await cachedFolder(root, 'thing', build);
    expect(builds).toBe(1);
  });

  it('takes over a lock whose holder died', async () => {
    const root = path.join(tmp.dir, 'stale');
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    fs.mkdirSync(path.join(root, 'thing.lock'), { recursive: true });
    fs.writeFileSync(path.join(root, 'thing.lock', 'owner.json'), JSON.stringify({ pid: dead, host: os.hostname() }));
    let builds = 0;
    const dir = await cachedFolder(root, 'thing', async (out) => {
      builds++;
      fs.mkdirSync(out);
    }, { pollMs: 5 });
    expect(builds).toBe(1);
    expect(fs.existsSync(dir)).toBe(true);
    expect(leftovers(root)).toEqual([]);
  });

  it('a failed build leaves no folder, lock or partial output, and the next request builds again', async () => {
    const root = path.join(tmp.dir, 'failing');
    await expect(cachedFolder(root, 'thing', async (out) => {
      fs.mkdirSync(out);
      fs.writeFileSync(path.join(out, 'half'), 'x');
      throw new Error('builder broke');
    })).rejects.toThrow('builder broke');
    expect(fs.readdirSync(root)).toEqual([]);
    const dir = await cachedFolder(root, 'thing', async (out) => fs.mkdirSync(out));
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('tinyZooKey', () => {
  it('follows the builder through its imports; each spec has its own key, stable across calls', () => {
    const closure = importClosure(path.resolve('src', 'zoo', 'mnist8.ts')).map((f) => path.relative(process.cwd(), f));
    for (const f of ['src/zoo/mnist8.ts', 'src/zoo/train-classifier.ts', 'src/models/mlp-classifier.ts', 'src/tensor/hash.ts', 'src/tensor/random.ts', 'src/io/checkpoint-writer.ts']) expect(closure).toContain(f);
    expect(closure.every((f) => fs.existsSync(f))).toBe(true);
    const keys = [TINY_MNIST8, TINY_SKILLS4, TINY_SKILLS4_FAST].map(tinyZooKey);
    expect(new Set(keys).size).toBe(3);
    expect(keys[0]).toMatch(/^mnist8-tiny-seed1-[0-9a-f]{16}$/);
    expect(keys[2]).toMatch(/^skills4-tiny-seed2-steps40x20-[0-9a-f]{16}$/);
    expect(tinyZooKey({ ...TINY_MNIST8 })).toBe(keys[0]);
    expect(tinyZooKey({ ...TINY_MNIST8, seed: 2 })).not.toBe(keys[0]);
  });
});
