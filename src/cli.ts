import { Command } from 'commander';
import { classCommands } from './cli/class-commands.js';
import { readCommands } from './cli/read-commands.js';
import { classFileError, interrupt, stopSignalTaken } from './cli/shared.js';
import { toolCommands } from './cli/tool-commands.js';
import { ExitCode, LabctlError, errorJson } from './errors.js';
import { reportFailure, reportInfo } from './commands/report.js';

/** Commands whose defaults come from the class file. */
const CLASS_FILE_COMMANDS = new Set([
  'up',
  'down',
  'stop',
  'start',
  'move',
  'archive',
  'info',
  'handout',
  'check',
  'reset',
  'logs',
  'board',
  'roster',
  'extend',
]);

/** `--json` anywhere before `--`: errors are printed as JSON on stdout too. */
const wantsJson = (() => {
  const args = process.argv.slice(2);
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).includes('--json');
})();

/** Reports an error the way the command was asked to (JSON on stdout with --json, else text on stderr). */
function reportError(error: LabctlError): void {
  reportFailure(error, errorJson(error), wantsJson);
}

const program = new Command('labctl')
  .description('Run the SMTP/POP3/IMAP lab for a whole class: one Postfix + Courier server per student, on Docker.')
  .showHelpAfterError('(add --help for usage)')
  .configureOutput({ outputError: (text, write) => write(text) })
  // Bad flags and arguments exit 2, like every other kind of bad input.
  .exitOverride((error) => {
    if (error.exitCode === 0) process.exit(0);
    if (wantsJson) reportError(new LabctlError(ExitCode.usage, error.message.replace(/^error: /, '')));
    process.exit(ExitCode.usage);
  })
  .hook('preAction', (_program, command) => {
    const topLevel = command.parent && command.parent !== program ? command.parent.name() : command.name();
    if (classFileError !== undefined && CLASS_FILE_COMMANDS.has(topLevel)) throw classFileError;
  });

classCommands(program);

readCommands(program);

toolCommands(program);

program.addHelpText(
  'after',
  `
Exit codes: 0 ok, 1 internal error, 2 bad input, 3 conflict (ports, names, students),
            4 Docker engine problem, 5 image build failed, 6 a service did not get ready,
            7 an archive is not intact.

Example: labctl up --students 19 && labctl info --student 7`,
);

// Ctrl-C and SIGTERM: a command that took the stop signal (cli/shared.ts) gets it and stops cleanly; a second signal
// does not cut that short. Every other command ends at once with 130.
const onSignal = () => {
  if (!stopSignalTaken()) {
    if (wantsJson) reportError(new LabctlError(ExitCode.interrupted, 'Interrupted.'));
    process.exit(ExitCode.interrupted);
  }
  if (interrupt.signal.aborted) reportInfo('Still stopping; please wait.');
  else interrupt.abort(new LabctlError(ExitCode.interrupted, 'Interrupted.'));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof LabctlError) {
    reportError(error);
    process.exitCode = error.exitCode;
  } else {
    const stack = (error as Error)?.stack ?? String(error);
    if (wantsJson) {
      reportError(new LabctlError(ExitCode.internal, `internal error: ${(error as Error)?.message ?? String(error)}`));
    }
    reportFailure({ message: `internal error: ${stack}`, hint: 'Please report this.' }, undefined, false);
    process.exitCode = ExitCode.internal;
  }
}
