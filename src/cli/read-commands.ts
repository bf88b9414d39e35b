import { Option, type Command } from 'commander';
import { cfg, classOption, int, jsonOption, stopSignal } from './shared.js';

/** The commands that read a class and a TA's tools: info, handout, status, check, roster, reset, logs, board. */
export function readCommands(program: Command): void {
  program
    .command('info')
    .description('connection details: a card per student (in French), or JSON')
    .addOption(classOption())
    .option('--student <n>', 'only this student', int('--student'))
    .addOption(
      new Option('--format <format>', 'text on the terminal, or printable cards (one per page) in html or md')
        .choices(['text', 'html', 'md'])
        .default('text'),
    )
    .option('--output <file>', 'write the cards to this file')
    .addOption(jsonOption())
    .action(async (o) => {
      const { info } = await import('../commands/info.js');
      await info({ ...o, className: o.class });
    });

  program
    .command('handout')
    .description("the lab's exercises for each student (in French), with their server, ports and accounts: HTML or PDF")
    .addOption(classOption())
    .option('--student <n>', 'only this student', int('--student'))
    .addOption(
      new Option(
        '--format <format>',
        'html, or pdf printed by headless Chromium (default: from the --output extension)',
      ).choices(['html', 'pdf']),
    )
    .option('--output <file>', 'write to this file (a PDF needs one; HTML goes to stdout without it)')
    .option('--lab <name|path>', "this lab's handout for a class not up yet (with --students, --base-port, --host)")
    .option('--students <n>', 'with --lab: number of students', int('--students'), cfg?.students)
    .option('--base-port <port>', 'with --lab: the port plan', int('--base-port', 1024), cfg?.basePort)
    .option('--host <address>', 'with --lab: the address students connect to', cfg?.host)
    .action(async (o) => {
      const { handout } = await import('../commands/handout.js');
      await handout({ ...o, className: o.class });
    });

  program
    .command('status')
    .description("per student: the containers' state and whether each service answers")
    .option('--class <name>', 'only this class (default: every class on the engine)')
    .option(
      '--greet',
      "greet every service now, as a student's client would (default: what listens, as each server's kernel says, " +
        'from its sidecar; a service not listening is greeted anyway)',
    )
    .addOption(jsonOption())
    .action(async (o) => {
      const { status } = await import('../commands/status.js');
      await status({ ...o, className: o.class });
    });

  program
    .command('check')
    .description('the class board: which exercises each student has done, from their sidecars')
    .addOption(classOption())
    .option('--student <n>', 'only this student', int('--student'))
    .addOption(
      new Option(
        '--format <format>',
        'table (the default); csv (a grading sheet); moodle (a CSV for the Moodle gradebook import); xlsx (a spreadsheet)',
      ).choices(['table', 'csv', 'moodle', 'xlsx']),
    )
    .option('--csv', 'the same as --format csv')
    .option('--output <file>', 'write the csv, moodle or xlsx output to this file (needed for xlsx on a terminal)')
    .option('--watch', 'redraw the board every 2 s until Ctrl-C')
    .option('--stuck <minutes>', 'mark students with no progress for this many minutes as stuck', int('--stuck', 0), 15)
    .addOption(jsonOption())
    .action(async (o) => {
      const { check } = await import('../commands/check.js');
      await check({ ...o, className: o.class, signal: stopSignal() });
    });

  const roster = program
    .command('roster')
    .description('the class list (name, e-mail, student number, group): who sits at which seat');

  roster
    .command('import')
    .description('read a class list (CSV) and keep it with the class, replacing the previous one')
    .argument('<file>', 'CSV with a header row: nom/name, email/courriel, numéro/student number/id, groupe/group')
    .addOption(classOption())
    .addOption(jsonOption())
    .action(async (file: string, o) => {
      const { rosterImport } = await import('../commands/roster.js');
      await rosterImport({ ...o, file, className: o.class });
    });

  roster
    .command('show')
    .description("print the class's list")
    .addOption(classOption())
    .addOption(jsonOption())
    .action(async (o) => {
      const { rosterShow } = await import('../commands/roster.js');
      await rosterShow({ ...o, className: o.class });
    });

  program
    .command('reset')
    .description('empty mailboxes (spool, Maildir, ~/mbox) of an account, a student or the class; progress is kept')
    .addOption(classOption())
    .option('--student <n>', 'this student', int('--student'))
    .option('--user <account>', 'only this account of the student (e.g. util17)')
    .option('--all', 'every student of the class')
    .option(
      '--backup',
      'first save what is removed to a tar under the class data folder (~/.local/share/labctl/CLASS/backups)',
    )
    .option('--hard', "also recreate the student's containers from the images")
    .option('--progress', "also clear the student's progress (exercises done)")
    .option('--yes', 'do not ask for confirmation (needed off a terminal)')
    .addOption(jsonOption())
    .action(async (o) => {
      const { reset } = await import('../commands/reset.js');
      await reset({ ...o, className: o.class, signal: stopSignal() });
    });

  program
    .command('logs')
    .description("a student's mail log: Postfix and Courier lines")
    .addOption(classOption())
    .requiredOption('--student <n>', 'the student', int('--student'))
    .option('--follow', 'keep streaming new lines until Ctrl-C')
    .option('--since <time>', 'only lines from this time on: 10m, 2h, 1d, or a date such as 2026-11-26T09:00')
    .action(async (o) => {
      const { logs } = await import('../commands/logs.js');
      await logs({ ...o, className: o.class, signal: stopSignal() });
    });

  program
    .command('board')
    .description('serve the live class board (students × exercises) for the instructor, until Ctrl-C')
    .addOption(classOption())
    .option('--port <port>', 'port to listen on', int('--port'), 8090)
    .option('--listen <address>', 'address to listen on; anything but loopback needs the board key', '127.0.0.1')
    .option('--stuck <minutes>', 'mark students with no progress for this many minutes as stuck', int('--stuck', 0), 15)
    .action(async (o) => {
      const { board } = await import('../commands/board.js');
      await board({ ...o, className: o.class, signal: stopSignal() });
    });
}
