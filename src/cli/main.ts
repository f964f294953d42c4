// The mergesearch command line: one file per verb, this one only wires them together.
import { Command, CommanderError, type Option } from 'commander';
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

/** Exit code of every mistake in what the user typed or wrote (commander's parse errors included). */
export const EXIT_USAGE = 2;

export function buildProgram(): Command {
  const program = new Command('mergesearch')
    .description('Find the best way to merge fine-tuned checkpoints that share a base model')
    .version('0.1.0')
    .showHelpAfterError()
    // Parse errors are thrown (CommanderError) instead of exiting with 1; main() exits 2 on them.
    // Set before the verbs are added: subcommands copy it when created.
    .exitOverride();
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
  unknownOptionsFirst(program);
  return program;
}

/**
 * commander reports a missing required option before an unknown one, so `export --trail 67` would
 * say "--trial not specified" while the real mistake is the misspelt flag. Required options are
 * checked here instead, in a preAction hook, which commander runs after its unknown-option check.
 */
function unknownOptionsFirst(program: Command): void {
  const required = new Map<Command, Option[]>();
  const visit = (cmd: Command) => {
    const opts = cmd.options.filter((o) => o.mandatory);
    for (const o of opts) o.mandatory = false;
    if (opts.length > 0) required.set(cmd, opts);
    cmd.commands.forEach(visit);
  };
  visit(program);
  program.hook('preAction', (_root, action) => {
    for (const o of required.get(action) ?? []) {
      if (action.getOptionValue(o.attributeName()) === undefined) {
        action.error(`error: required option '${o.flags}' not specified`, { code: 'commander.missingMandatoryOptionValue', exitCode: EXIT_USAGE });
      }
    }
  });
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander has printed its message (and the help); --help and --version end with 0.
      process.exitCode = e.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    if (e instanceof MergeSearchError) {
      // Messages quote file contents and names; a terminal must not obey escapes hidden in them.
      process.stderr.write(`error: ${printable(e.message, '\n\t')}\n`);
      process.exitCode = EXIT_USAGE;
      return;
    }
    // A bug, not the user's input: the stack, without node echoing the (minified) source line of
    // the throw site, which for errors surfacing through tfjs-wasm is kilobytes of one line.
    process.stderr.write(`internal error (please report it): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  }
}
