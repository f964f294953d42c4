// Checks on input paths before anything opens them. Opening a FIFO for reading blocks until a
// writer appears, inside a synchronous open() that no signal interrupts; a device such as
// /dev/zero never ends; a symbolic link loop fails with ELOOP, which a plain existence test reports
// as "does not exist". So inputs are stat'ed first and refused with a coded error naming what they
// are, and files are opened non-blocking and checked again on the open descriptor (a path swapped
// for a FIFO between the two checks still cannot hang the process).
import fs from 'node:fs';
import path from 'node:path';
import { fail } from '../errors.ts';

/** What a non-regular file is, in words. */
export function specialKind(st: fs.Stats): string {
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** The links `p` passes through, `p → target → ...`, stopping at a repeat (a loop) or a non-link. */
export function linkChain(p: string, max = 40): { chain: string[]; loop: boolean } {
  const chain = [path.resolve(p)];
  for (let i = 0; i < max; i++) {
    const cur = chain[chain.length - 1]!;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(cur);
    } catch {
      return { chain, loop: false };
    }
    if (!st.isSymbolicLink()) return { chain, loop: false };
    const next = path.resolve(path.dirname(cur), fs.readlinkSync(cur));
    const seen = chain.includes(next);
    chain.push(next);
    if (seen) return { chain, loop: true };
  }
  return { chain, loop: true };
}

/** Whether something is at `p` (a dangling or looping link counts: it is there, just broken). */
export function pathPresent(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * `p` (`what` names it in messages: "checkpoint", "shard") must be a regular file or a folder,
 * following links. Coded errors for: nothing there, a dangling link, a link loop, no permission,
 * and FIFOs, devices and sockets.
 */
export function statInput(p: string, what: string): 'file' | 'folder' {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') {
      const { chain, loop } = linkChain(p);
      fail('IO_E_LINK_LOOP', `${what} ${p} is a symbolic link loop${loop && chain.length > 1 ? ` (${chain.join(' → ')})` : ' (a folder on its path links back to itself)'}; point the link at a real file or folder`);
    }
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      const { chain } = linkChain(p);
      if (chain.length > 1) fail('IO_E_NOT_FOUND', `${what} ${p} is a symbolic link to ${chain[chain.length - 1]}, which does not exist`);
      fail('IO_E_NOT_FOUND', `${what} ${p} does not exist`);
    }
    fail('IO_E_READ', `${what} ${p} cannot be read (${(e as Error).message})`);
  }
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'folder';
  return fail('IO_E_NOT_REGULAR', `${what} ${p} is ${specialKind(st)}, not a file or folder; give a checkpoint folder or a .safetensors file`);
}

/** Open `p` for reading, refusing anything but a regular file without ever blocking on it. */
export function openRegularFile(p: string, what: string): number {
  const kind = statInput(p, what);
  if (kind === 'folder') fail('IO_E_NOT_REGULAR', `${what} ${p} is a folder, not a file`);
  let fd: number;
  try {
    fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return fail(err.code === 'ENOENT' ? 'IO_E_NOT_FOUND' : 'IO_E_READ', `cannot open ${what} ${p}: ${err.message}`);
  }
  const st = fs.fstatSync(fd);
  if (!st.isFile()) {
    fs.closeSync(fd);
    fail('IO_E_NOT_REGULAR', `${what} ${p} is ${specialKind(st)}, not a regular file`);
  }
  return fd;
}

/** The text of a small regular file (config.json, an index), or a coded error; never blocks. */
export function readRegularFile(p: string, what: string): string {
  const fd = openRegularFile(p, what);
  try {
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}
