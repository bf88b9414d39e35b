import { Option, type Command } from 'commander';
import { ExitCode, LabctlError } from '../errors.js';
import { cfg, classOption, int, jsonOption, stopSignal } from './shared.js';

/** The commands that change a class: up, extend, init, down, stop, start, move, snapshot; and its archive. */
export function classCommands(program: Command): void {
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
    .option(
      '--replace-lost',
      'on Swarm, start the students whose node is down or gone on other nodes, from their snapshot if they have one (`labctl snapshot`); without one, their mail is lost',
    )
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
      const { up } = await import('../commands/up.js');
      await up({ ...o, className: o.class, constraints: o.constraint, signal: stopSignal() });
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
      const { extend } = await import('../commands/extend.js');
      await extend({ ...o, className: o.class, signal: stopSignal() });
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
      const { init } = await import('../commands/init.js');
      await init({ ...o, className: o.class });
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
      const { down } = await import('../commands/down.js');
      await down({ ...o, className: o.class, signal: stopSignal() });
    });

  program
    .command('stop')
    .description('stop the class (or one student) between sessions; mailboxes, disks and progress are kept')
    .addOption(classOption())
    .option('--student <n>', 'only this student', int('--student'))
    .addOption(jsonOption())
    .action(async (o) => {
      const { stop } = await import('../commands/stop.js');
      await stop({ ...o, className: o.class, signal: stopSignal() });
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
      const { start } = await import('../commands/start.js');
      await start({ ...o, className: o.class, signal: stopSignal() });
    });

  program
    .command('move')
    .description(
      'carry students to another Swarm node with their volumes (mailboxes, homes, logs, progress, ssh host keys); each is stopped during the copy, and their old copies go once they answer on the new node',
    )
    .addOption(classOption())
    .option('--student <n>', 'this student', int('--student'))
    .option('--from <node>', 'every student on this node (to drain it for maintenance)')
    .option(
      '--to <node>',
      'the node they go to (default: for each, the ready and active node with the fewest students)',
    )
    .option(
      '--timeout <seconds>',
      "how long a moved student's services may take to answer on the new node",
      int('--timeout'),
      90,
    )
    .addOption(jsonOption())
    .action(async (o) => {
      const { move } = await import('../commands/move.js');
      await move({ ...o, className: o.class, signal: stopSignal() });
    });

  program
    .command('snapshot')
    .description(
      "copy every student's volumes (mailboxes, homes, logs, progress, ssh host keys) to the Swarm manager, so that `up --replace-lost` can bring them back if their node is lost; each student is stopped during their copy",
    )
    .addOption(classOption())
    .option('--student <n>', 'only this student', int('--student'))
    .option(
      '--timeout <seconds>',
      "how long a student's services may take to answer again after their copy",
      int('--timeout'),
      90,
    )
    .addOption(jsonOption())
    .action(async (o) => {
      const { snapshot } = await import('../commands/snapshot.js');
      await snapshot({ ...o, className: o.class, signal: stopSignal() });
    });

  program
    .command('archive')
    .description("write the class's work (mailboxes, logs, evidence, credits, roster, lab) to a signed archive")
    .addOption(classOption())
    .option('--student <n>', 'only this student', int('--student'))
    .requiredOption('--output <file>', 'the archive to write (a .tar.gz, readable by you only)')
    .addOption(jsonOption())
    .action(async (o) => {
      const { archive } = await import('../commands/archive.js');
      await archive({ ...o, className: o.class, signal: stopSignal() });
    });

  program
    .command('verify-archive')
    .description('say whether an archive written by `labctl archive` is intact (exit 7 naming what changed if not)')
    .argument('<file>', 'the archive')
    .option('--key <key>', "the archive key `labctl archive` printed (default: the class's, from the engine)")
    .addOption(jsonOption())
    .action(async (file: string, o) => {
      const { verifyArchiveCommand } = await import('../commands/verify-archive.js');
      await verifyArchiveCommand({ ...o, file });
    });
}
