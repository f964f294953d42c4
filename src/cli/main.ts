// The mergesearch command line: one file per verb, this one only wires them together.
import { Command } from 'commander';
import { MergeSearchError } from '../errors.ts';
import { printable } from '../io/printable.ts';
import { registerDb } from './db.ts';
import { registerEval } from './eval.ts';
import { registerExport } from './export.ts';
import { registerInspect } from './inspect.ts';
import { registerMerge } from './merge.ts';
import { registerQuickstart } from './quickstart.ts';
import { registerReport } from './report.ts';
import { registerSearch } from './search.ts';
import { registerServe } from './serve.ts';
import { registerStats } from './stats.ts';
import { registerWorker } from './worker.ts';
import { registerZoo } from './zoo.ts';

export function buildProgram(): Command {
  const program = new Command('mergesearch')
    .description('Find the best way to merge fine-tuned checkpoints that share a base model')
    .version('0.1.0')
    .showHelpAfterError();
  registerQuickstart(program);
  registerSearch(program);
  registerWorker(program);
  registerServe(program);
  registerExport(program);
  registerReport(program);
  registerMerge(program);
  registerInspect(program);
  registerZoo(program);
  registerEval(program);
  registerStats(program);
  registerDb(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    if (e instanceof MergeSearchError) {
      // Messages quote file contents and names; a terminal must not obey escapes hidden in them.
      process.stderr.write(`error: ${printable(e.message, '\n\t')}\n`);
      process.exitCode = 2;
      return;
    }
    // A bug, not the user's input: the stack, without node echoing the (minified) source line of
    // the throw site, which for errors surfacing through tfjs-wasm is kilobytes of one line.
    process.stderr.write(`internal error (please report it): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  }
}
