import { Command, InvalidArgumentError, Option } from 'commander';
import { readClassFile, type ClassFile } from './core/class-file.js';
import { ExitCode, LabctlError, errorJson } from './errors.js';
import { reportFailure, reportInfo } from './commands/report.js';

const int =
  (name: string, min = 1) =>
  (value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min) throw new InvalidArgumentError(`${name} must be a whole number ≥ ${min}.`);
    return n;
  };

// The class file (`labctl init`) gives the defaults; flags override it. A broken one fails only the commands that
// take their defaults from it (below), so `--help`, `init --force` (to write it again) and `doctor` still run.
let classFileError: unknown;
const cfg = process.argv[2] === 'init' ? undefined : readClassFileLater();

function readClassFileLater(): ClassFile | undefined {
  try {
    return readClassFile();
  } catch (error) {
    classFileError = error;
    return undefined;
  }
}

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

/** The signal every command's long operations stop on (see onSignal below), and which command runs. */
const interrupt = new AbortController();
const { signal } = interrupt;
let commandName = '';

const classOption = () =>
  new Option('--class <name>', 'class name (every Docker object is labelled with it)').default(cfg?.class ?? 'td1');
const jsonOption = () => new Option('--json', 'print the result as JSON on stdout');

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
    commandName = topLevel;
    if (classFileError !== undefined && CLASS_FILE_COMMANDS.has(topLevel)) throw classFileError;
  });

program
  .command('up')
  .description('create (or reconcile) a mail server and a sidecar per student, and wait until every service answers')
  .option(
    '--students <n>',
    'number of students (required unless the class file says)',
    int('--students'),
    cfg?.students,
  )
  .addOption(classOption())
  .option(
    '--lab <name|path>',
    'a lab of labs/ by name (smtp-tls), or a lab folder or file (default: smtp-pop-imap)',
    cfg?.lab,
  )
  .option(
    '--base-port <port>',
    'shifts the port plan: student n uses base + n*100 + 25/10/43/22 (web 80)',
    int('--base-port', 1024),
    cfg?.basePort ?? 10000,
  )
  .option(
    '--host <address>',
    "address students connect to, shown on their cards (default: this host's first IPv4)",
    cfg?.host,
  )
  .option('--bind <address>', 'host address the ports are published on', cfg?.bind ?? '0.0.0.0')
  .option('--prune', 'remove students beyond --students (their mailboxes are kept)')
  .addOption(
    new Option('--passwords <policy>', "lab: the lab's password (master2021) everywhere; random: each student's own")
      .choices(['lab', 'random'])
      .default(cfg?.passwords),
  )
  .option(
    '--timeout <seconds>',
    "how long each student's services may take to answer, from their start",
    int('--timeout'),
    90,
  )
  .addOption(
    new Option('--engine <engine>', 'local: containers on this engine; swarm: services on its Docker Swarm')
      .choices(['local', 'swarm'])
      .default(cfg?.engine),
  )
  .option(
    '--constraint <expr>',
    'on Swarm, place new students only on matching nodes (repeatable), e.g. node.labels.room==b12',
    (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    cfg?.constraints,
  )
  .option(
    '--registry <host[:port]>',
    'on Swarm, nodes pull the images from this registry (see build --push)',
    cfg?.registry,
  )
  .option('--until <time>', 'a graded session: it ends at this time (16:00, or 2026-12-02T16:00)', cfg?.until)
  .option('--for <duration>', 'a graded session: it lasts this long from now (2h, 90m)', cfg?.for)
  .option('--dry-run', 'print the plan and change nothing')
  .addOption(jsonOption())
  .action(async (o) => {
    if (o.students === undefined) {
      throw new LabctlError(
        ExitCode.usage,
        'How many students? Give --students N.',
        'Or write a class file with `labctl init`.',
      );
    }
    const { up } = await import('./commands/up.js');
    await up({ ...o, className: o.class, constraints: o.constraint, signal });
  });

program
  .command('extend')
  .description("move the end of the class's session, or give one student extra time (--student N)")
  .addOption(classOption())
  .option('--student <n>', 'only this student: their extra time', int('--student'))
  .option('--by <duration>', 'move the end by this much (15m, 1h; -5m takes time back)')
  .option('--until <time>', 'set the end to this time (16:30, or 2026-12-02T16:30)')
  .addOption(jsonOption())
  .action(async (o) => {
    const { extend } = await import('./commands/extend.js');
    await extend({ ...o, className: o.class, signal });
  });

program
  .command('init')
  .description('write a class file (./labctl.yaml) that the other commands read by default; asks on a terminal')
  .option('--class <name>', 'class name')
  .option('--students <n>', 'number of students', int('--students'))
  .option('--base-port <port>', 'base of the port plan', int('--base-port', 1024))
  .option('--host <address>', 'address students connect to')
  .option('--lab <name|path>', 'a lab of labs/ by name, or a lab folder or file')
  .addOption(new Option('--passwords <policy>', 'lab or random').choices(['lab', 'random']))
  .option('--output <file>', 'where to write it (default: $LABCTL_CONFIG or ./labctl.yaml)')
  .option('--force', 'replace an existing class file')
  .addOption(jsonOption())
  .action(async (o) => {
    const { init } = await import('./commands/init.js');
    await init({ ...o, className: o.class, signal });
  });

program
  .command('down')
  .description("remove the class's containers and networks (mailboxes kept unless --purge)")
  .addOption(classOption())
  .option('--student <n>', 'only this student', int('--student'))
  .option('--purge', 'also delete the mailbox and log volumes')
  .option('--yes', 'do not ask for confirmation (needed for --purge off a terminal)')
  .option('--force', 'purge a graded class even without an archive made after its end')
  .addOption(jsonOption())
  .action(async (o) => {
    const { down } = await import('./commands/down.js');
    await down({ ...o, className: o.class, signal });
  });

program
  .command('stop')
  .description('stop the class (or one student) between sessions; mailboxes, disks and progress are kept')
  .addOption(classOption())
  .option('--student <n>', 'only this student', int('--student'))
  .addOption(jsonOption())
  .action(async (o) => {
    const { stop } = await import('./commands/stop.js');
    await stop({ ...o, className: o.class, signal });
  });

program
  .command('start')
  .description('bring a stopped class (or one student) back, and wait until every service answers')
  .addOption(classOption())
  .option('--student <n>', 'only this student', int('--student'))
  .option(
    '--timeout <seconds>',
    "how long each student's services may take to answer, from the last start",
    int('--timeout'),
    90,
  )
  .addOption(jsonOption())
  .action(async (o) => {
    const { start } = await import('./commands/start.js');
    await start({ ...o, className: o.class, signal });
  });

program
  .command('move')
  .description(
    'carry students to another Swarm node with their volumes (mailboxes, homes, logs, progress, ssh host keys); each is stopped during the copy, and their old copies go once they answer on the new node',
  )
  .addOption(classOption())
  .option('--student <n>', 'this student', int('--student'))
  .option('--from <node>', 'every student on this node (to drain it for maintenance)')
  .option('--to <node>', 'the node they go to (default: for each, the ready and active node with the fewest students)')
  .option(
    '--timeout <seconds>',
    "how long a moved student's services may take to answer on the new node",
    int('--timeout'),
    90,
  )
  .addOption(jsonOption())
  .action(async (o) => {
    const { move } = await import('./commands/move.js');
    await move({ ...o, className: o.class, signal });
  });

program
  .command('archive')
  .description("write the class's work (mailboxes, logs, evidence, credits, roster, lab) to a signed archive")
  .addOption(classOption())
  .option('--student <n>', 'only this student', int('--student'))
  .requiredOption('--output <file>', 'the archive to write (a .tar.gz, readable by you only)')
  .addOption(jsonOption())
  .action(async (o) => {
    const { archive } = await import('./commands/archive.js');
    await archive({ ...o, className: o.class, signal });
  });

program
  .command('verify-archive')
  .description('say whether an archive written by `labctl archive` is intact (exit 7 naming what changed if not)')
  .argument('<file>', 'the archive')
  .option('--key <key>', "the archive key `labctl archive` printed (default: the class's, from the engine)")
  .addOption(jsonOption())
  .action(async (file: string, o) => {
    const { verifyArchiveCommand } = await import('./commands/verify-archive.js');
    await verifyArchiveCommand({ ...o, file, signal });
  });

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
    const { info } = await import('./commands/info.js');
    await info({ ...o, className: o.class, signal });
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
    const { handout } = await import('./commands/handout.js');
    await handout({ ...o, className: o.class, signal });
  });

program
  .command('status')
  .description("per student: the containers' state and whether each service answers")
  .option('--class <name>', 'only this class (default: every class on the engine)')
  .addOption(jsonOption())
  .action(async (o) => {
    const { status } = await import('./commands/status.js');
    await status({ ...o, className: o.class, signal });
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
    const { check } = await import('./commands/check.js');
    await check({ ...o, className: o.class, signal });
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
    const { rosterImport } = await import('./commands/roster.js');
    await rosterImport({ ...o, file, className: o.class, signal });
  });

roster
  .command('show')
  .description("print the class's list")
  .addOption(classOption())
  .addOption(jsonOption())
  .action(async (o) => {
    const { rosterShow } = await import('./commands/roster.js');
    await rosterShow({ ...o, className: o.class, signal });
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
    const { reset } = await import('./commands/reset.js');
    await reset({ ...o, className: o.class, signal });
  });

program
  .command('logs')
  .description("a student's mail log: Postfix and Courier lines")
  .addOption(classOption())
  .requiredOption('--student <n>', 'the student', int('--student'))
  .option('--follow', 'keep streaming new lines until Ctrl-C')
  .option('--since <time>', 'only lines from this time on: 10m, 2h, 1d, or a date such as 2026-11-26T09:00')
  .action(async (o) => {
    const { logs } = await import('./commands/logs.js');
    await logs({ ...o, className: o.class, signal });
  });

program
  .command('board')
  .description('serve the live class board (students × exercises) for the instructor, until Ctrl-C')
  .addOption(classOption())
  .option('--port <port>', 'port to listen on', int('--port'), 8090)
  .option('--listen <address>', 'address to listen on; anything but loopback needs the board key', '127.0.0.1')
  .option('--stuck <minutes>', 'mark students with no progress for this many minutes as stuck', int('--stuck', 0), 15)
  .action(async (o) => {
    const { board } = await import('./commands/board.js');
    await board({ ...o, className: o.class, signal });
  });

program
  .command('build')
  .description('build the base, mail and sidecar images (up builds them when missing)')
  .option('--lab <name|path>', 'the lab whose accounts go into the image')
  .option('--push <registry>', 'then push the mail and sidecar images to this registry (host[:port]), for Swarm nodes')
  .addOption(jsonOption())
  .action(async (o) => {
    const { build } = await import('./commands/build.js');
    await build({ ...o, signal });
  });

const images = program
  .command('images')
  .description("carry the class's images to Swarm nodes without a registry (docker save / docker load)");
images
  .command('save')
  .description("write the lab's mail and sidecar images (built if missing) to one archive")
  .requiredOption('-o, --output <file>', 'archive to write (docker save format)')
  .option('--lab <name|path>', 'the lab whose images to save', cfg?.lab)
  .addOption(jsonOption())
  .action(async (o) => {
    const { imagesSave } = await import('./commands/images.js');
    await imagesSave({ ...o, signal });
  });
images
  .command('load')
  .description('load an archive written by `labctl images save` into the engine (DOCKER_HOST: each node in turn)')
  .argument('<file>', 'archive to load')
  .addOption(jsonOption())
  .action(async (file: string, o) => {
    const { imagesLoad } = await import('./commands/images.js');
    await imagesLoad({ ...o, file, signal });
  });

program
  .command('doctor')
  .description('check the Docker engine, disk space, base image and bootstrap tool, and say how to fix each')
  .option('--fix', 'as root on Debian: install docker.io and mmdebstrap, and start dockerd')
  .addOption(jsonOption())
  .action(async (o) => {
    const { doctor } = await import('./commands/doctor.js');
    await doctor({ ...o, signal });
  });

program.addHelpText(
  'after',
  `
Exit codes: 0 ok, 1 internal error, 2 bad input, 3 conflict (ports, names, students),
            4 Docker engine problem, 5 image build failed, 6 a service did not get ready,
            7 an archive is not intact.

Example: labctl up --students 19 && labctl info --student 7`,
);

// Ctrl-C and SIGTERM: the commands that work for a while get the one signal and stop cleanly (up undoes what it did,
// logs --follow and the board end); a second signal does not cut that short. Every other command ends with 130.
const INTERRUPTIBLE = new Set([
  'up',
  'down',
  'stop',
  'start',
  'move',
  'reset',
  'logs',
  'board',
  'check',
  'build',
  'images',
]);
const onSignal = () => {
  if (!INTERRUPTIBLE.has(commandName)) {
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
