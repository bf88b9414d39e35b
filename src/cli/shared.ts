import { InvalidArgumentError, Option } from 'commander';
import { readClassFile, type ClassFile } from '../core/class-file.js';

/** What every command definition shares: option parsers, the class file's defaults, and the one stop signal. */

export const int =
  (name: string, min = 1) =>
  (value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min) throw new InvalidArgumentError(`${name} must be a whole number ≥ ${min}.`);
    return n;
  };

// The class file (`labctl init`) gives the defaults; flags override it. A broken one fails only the commands that
// take their defaults from it (CLASS_FILE_COMMANDS in cli.ts), so `--help`, `init --force` (to write it again) and `doctor` still run.
export let classFileError: unknown;
export const cfg = process.argv[2] === 'init' ? undefined : readClassFileLater();

function readClassFileLater(): ClassFile | undefined {
  try {
    return readClassFile();
  } catch (error) {
    classFileError = error;
    return undefined;
  }
}

/**
 * Ctrl-C and SIGTERM. A command that honours them takes the stop signal (`stopSignal()`, in its action): cli.ts then
 * aborts it and the command stops cleanly (up undoes what it did, a lock goes back, a half-written file goes, a job on
 * a node is removed). A command that never took it ends at once with 130: it holds nothing that must be given back.
 */
export const interrupt = new AbortController();
let taken = false;
export function stopSignal(): AbortSignal {
  taken = true;
  return interrupt.signal;
}
/** Whether the running command took the stop signal (see above). */
export const stopSignalTaken = () => taken;

export const classOption = () =>
  new Option('--class <name>', 'class name (every Docker object is labelled with it)').default(cfg?.class ?? 'td1');
export const jsonOption = () => new Option('--json', 'print the result as JSON on stdout');
