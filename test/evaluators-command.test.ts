// The command evaluator runs real shell commands: scores from the last JSON line of stdout, the
// checkpoint passed two ways, and failures (exit code, garbage, timeout) reported with what the
// user needs — a timeout killing the command's whole process group, grandchildren included.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseScores, runCommandEvaluator } from '../evaluators/command.ts';
import { MergeSearchError } from '../src/errors.ts';

let root: string;
let ckpt: string;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-eval-cmd-'));
  ckpt = path.join(root, 'ckpt');
  fs.mkdirSync(ckpt);
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const run = (command: string, extra: Partial<Parameters<typeof runCommandEvaluator>[0]> = {}) =>
  runCommandEvaluator({ command, checkpointDir: ckpt, timeoutMs: 10_000, ...extra });

async function failure(p: Promise<unknown>): Promise<MergeSearchError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(MergeSearchError);
  return e as MergeSearchError;
}

/** Alive = exists and is not a zombie (PID 1 in a container may never reap orphans). */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Live processes whose process group is `pgid`. */
function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // state ppid pgrp ...
      if (fields[0] !== 'Z' && Number(fields[2]) === pgid) out.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

describe('scores', () => {
  it('returns the numeric fields of the JSON object on stdout', async () => {
    expect(await run(`echo '{"acc": 0.9, "name": "x"}'`)).toEqual({ acc: 0.9 });
  });

  it('takes the last JSON object line, skipping log lines, arrays and trailing noise', async () => {
    const scores = await run(
      `echo 'loading...'; echo '{"acc": 0.1}'; echo '{"acc": 0.8, "loss": 1.5e-3, "ok": true, "n": null, "s": "7", "nested": {"a": 1}}'; echo '[1, 2]'; echo 'done {not json'; echo`,
    );
    expect(scores).toEqual({ acc: 0.8, loss: 0.0015 });
  });

  it('ignores stderr and keeps "__proto__" as a plain score', async () => {
    const scores = await run(`echo '{"a": 1}' >&2; echo '{"__proto__": 2, "b": -3}'`);
    expect(Object.keys(scores).sort()).toEqual(['__proto__', 'b']);
    expect(scores['b']).toBe(-3);
    expect(Object.getPrototypeOf(scores)).toBe(Object.prototype);
  });

  it('passes the checkpoint as {checkpoint} and as $MERGESEARCH_CHECKPOINT, with extra env and cwd', async () => {
    fs.writeFileSync(path.join(ckpt, 'score.txt'), '0.75');
    const cmd = `test "{checkpoint}" = "$MERGESEARCH_CHECKPOINT" || exit 9; printf '{"acc": %s, "extra": %s, "here": %s}\\n' "$(cat {checkpoint}/score.txt)" "$EXTRA" "$(test "$(pwd -P)" = "$(cd ${root} && pwd -P)" && echo 1 || echo 0)"`;
    expect(await run(cmd, { env: { EXTRA: '42' }, cwd: root })).toEqual({ acc: 0.75, extra: 42, here: 1 });
  });

  it('makes a relative checkpoint folder absolute and quotes an awkward one', async () => {
    const odd = path.join(root, "it's a ckpt");
    fs.mkdirSync(odd);
    fs.writeFileSync(path.join(odd, 'score.txt'), '0.5');
    const scores = await runCommandEvaluator({
      command: `printf '{"acc": %s}\\n' "$(cat {checkpoint}/score.txt)"; case "$MERGESEARCH_CHECKPOINT" in /*) echo '{"acc": 0.5, "abs": 1}';; esac`,
      checkpointDir: path.relative(process.cwd(), odd),
      timeoutMs: 10_000,
    });
    expect(scores).toEqual({ acc: 0.5, abs: 1 });
  });

  it('keeps only the tail of a huge stdout and still finds the scores', async () => {
    const scores = await run(`head -c 3000000 /dev/zero | tr '\\0' x; echo; echo '{"acc": 0.6}'`, { maxStdoutBytes: 1 << 20 });
    expect(scores).toEqual({ acc: 0.6 });
    // The partial line left at the cut is never parsed, even if it looks like JSON.
    const e = await failure(run(`echo '{"acc": 1}'; head -c 100 /dev/zero | tr '\\0' x`, { maxStdoutBytes: 50 }));
    expect(e.message).toMatch(/no JSON object/);
  });
});

describe('failures', () => {
  it('quotes the last stdout line when there is no JSON object', async () => {
    const e = await failure(run(`echo 'starting'; echo 'accuracy = 0.93 (garbage)'`));
    expect(e.code).toBe('EVAL_E_OUTPUT');
    expect(e.message).toMatch(/printed no JSON object on stdout \(last line: "accuracy = 0\.93 \(garbage\)"\)/);
    expect(e.message).toContain(ckpt);
    expect((await failure(run('true'))).message).toMatch(/stdout was empty/);
  });

  it('refuses a JSON object without numbers, quoting it', async () => {
    const e = await failure(run(`echo '{"acc": "high"}'`));
    expect(e.message).toMatch(/\{"acc": "high"\} but it has no numeric field/);
  });

  it('reports a non-zero exit with its code and the last 20 lines of stderr', async () => {
    const e = await failure(run(`echo '{"acc": 1}'; for i in $(seq 1 30); do echo "err line $i" >&2; done; exit 3`));
    expect(e.message).toMatch(/exited with code 3/);
    expect(e.message).toContain('err line 30');
    expect(e.message).toContain('err line 11');
    expect(e.message).not.toContain('err line 10\n');
    expect((await failure(run('exit 3'))).message).toMatch(/exited with code 3; stderr was empty/);
  });

  it('reports a command killed by a signal', async () => {
    const e = await failure(run('kill -TERM $$'));
    expect(e.message).toMatch(/killed by signal SIGTERM/);
  });

  it('reports a working directory that does not exist', async () => {
    const e = await failure(run('true', { cwd: path.join(root, 'missing') }));
    expect(e.message).toMatch(/could not be started in .*missing/);
  });

  it('kills the whole process group on timeout, grandchildren included, and says so', async () => {
    const pids = path.join(root, 'pids');
    const started = Date.now();
    const e = await failure(
      run(`echo $$ > ${pids}; sh -c 'sleep 30 & echo $! >> ${pids}; sleep 30' & echo $! >> ${pids}; sleep 30`, { timeoutMs: 300 }),
    );
    const elapsed = Date.now() - started;
    expect(e.message).toMatch(/did not finish within the timeout of 300 ms; it and every process it started were killed/);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    // It did not wait for the 30 s sleeps. (A tighter wall-time bound fails on a loaded machine.)
    expect(elapsed).toBeLessThan(15_000);
    const listed = fs.readFileSync(pids, 'utf8').trim().split('\n').map(Number);
    expect(listed.length).toBe(3);
    const pgid = listed[0]!;
    expect(await waitFor(() => listed.every((p) => !alive(p)) && groupMembers(pgid).length === 0, 10_000)).toBe(true);
  });

  it('kills background jobs a finished command left behind', async () => {
    const pids = path.join(root, 'pids-bg');
    expect(await run(`sleep 30 & echo $! > ${pids}; echo '{"acc": 1}'`)).toEqual({ acc: 1 });
    const pid = Number(fs.readFileSync(pids, 'utf8'));
    expect(await waitFor(() => !alive(pid), 10_000)).toBe(true);
  });

  it('stops on abort, killing the command', async () => {
    const pids = path.join(root, 'pids-abort');
    const ac = new AbortController();
    const p = run(`echo $$ > ${pids}; sleep 30`, { signal: ac.signal });
    await waitFor(() => fs.existsSync(pids) && fs.readFileSync(pids, 'utf8').endsWith('\n'), 10_000);
    ac.abort();
    const e = await failure(p);
    expect(e.message).toMatch(/was aborted/);
    expect(await waitFor(() => !alive(Number(fs.readFileSync(pids, 'utf8'))), 10_000)).toBe(true);
  });
});

describe('parseScores', () => {
  it('reads the last object line and ignores Windows line ends', () => {
    expect(parseScores('{"a": 1}\r\n{"b": 2}\r\n', 'cmd')).toEqual({ b: 2 });
    expect(() => parseScores('', 'cmd')).toThrow(/cmd printed no JSON object on stdout \(stdout was empty\)/);
  });
});
