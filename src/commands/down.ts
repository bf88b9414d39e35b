import { unarchivedSeats } from '../core/class-session.js';
import { downObjects, removeObjects, type KeptObject } from '../core/class-down.js';
import { label } from '../core/observed-class.js';
import { clockText, sessionOf } from '../core/session.js';
import { ExitCode, LabctlError } from '../errors.js';
import { DEFAULT_CLASS, defaultContext, type Context, type RunOptions } from './context.js';

export interface DownOptions extends RunOptions {
  className?: string;
  student?: number;
  purge?: boolean;
  yes?: boolean;
  /** Purge a graded class whose evidence has no archive made after its end. */
  force?: boolean;
}

export interface DownResult {
  class: string;
  containers: string[];
  networks: string[];
  volumes: string[];
  disks: string[];
}

/** Removes the class's labelled containers and networks (and with --purge its volumes), nothing else. */
export async function down(options: DownOptions, ctx: Context = defaultContext(options)): Promise<DownResult> {
  const { engine, reporter } = ctx;
  const className = options.className ?? DEFAULT_CLASS;
  await engine.ping();
  const listed = await engine.list(className);
  // A swarm's workers keep volumes list() does not see once the services are gone: purge asks every node.
  const everywhere = options.purge ? await engine.volumesEverywhere(className) : { volumes: [], missed: [] };
  const seen = new Set(listed.volumes.map((v) => v.name));
  const all = { ...listed, volumes: [...listed.volumes, ...everywhere.volumes.filter((v) => !seen.has(v.name))] };
  const { containers, networks, volumes, disks } = downObjects(all, options);
  const who = options.student === undefined ? `class ${className}` : `student ${options.student} of class ${className}`;
  const result: DownResult = { class: className, containers: [], networks: [], volumes: [], disks: [] };
  const missed = everywhere.missed.map((m) => `node ${m.node} could not be asked for its volumes (${m.why})`);
  if (containers.length + networks.length + volumes.length + disks.length === 0) {
    if (missed.length > 0) throw unpurged(className, missed, []);
    reporter.result(`Nothing to remove: no labctl objects for ${who}.`, result);
    return result;
  }
  if (options.purge && volumes.length > 0 && !options.force) {
    const session = sessionOf(className, all.volumes);
    const seats = [...new Set(volumes.map((v) => label.student(v)).filter(Number.isFinite))];
    const missing = unarchivedSeats(session, seats).sort((a, b) => a - b);
    if (session && missing.length > 0) {
      throw new LabctlError(
        ExitCode.conflict,
        `Class ${className} is a graded session (it ended at ${clockText(Date.parse(session.end), session.timeZone)}), and ${missing.length === 1 ? `student ${missing[0]} has` : `students ${missing.join(', ')} have`} no archive made after the end: --purge would erase the only evidence of their grade.`,
        `Archive first: \`labctl archive --class ${className} --output ${className}.tar.gz\`, then purge. Or add --force to purge anyway.`,
      );
    }
  }
  if (options.purge && volumes.length > 0) {
    await reporter.confirm(
      `Delete the mailboxes and logs of ${who} (${volumes.length} volumes)? This cannot be undone.`,
      {
        yes: options.yes,
        refusal: `--purge deletes ${volumes.length} mailbox volume(s) of ${who}`,
        cancelled: 'Cancelled; nothing was removed.',
      },
    );
  }
  const kept = await reporter.task(`Removing ${who}`, () =>
    removeObjects(engine, { containers, networks, volumes, disks }, { graceful: !options.purge, signal: ctx.signal }),
  );
  if (ctx.signal.aborted) {
    const left = downObjects(await engine.list(className), options);
    const students = new Set(
      [...left.containers, ...left.networks, ...left.volumes].map((o) => label.student(o)).filter(Number.isFinite),
    );
    throw new LabctlError(
      ExitCode.interrupted,
      `Interrupted: ${left.containers.length} containers, ${left.networks.length} networks${options.purge ? ` and ${left.volumes.length} volumes` : ''} of ${who} are left (${students.size} student(s)); the students under way were finished.`,
      `Run the same \`labctl down\` again to remove the rest.`,
    );
  }
  const stays = new Set(kept.map((k) => k.name));
  result.containers = containers.map((c) => c.name);
  result.networks = networks.map((n) => n.name);
  result.volumes = volumes.map((v) => v.name).filter((v) => !stays.has(v));
  result.disks = disks.map((d) => d.name).filter((d) => !stays.has(d));
  const mailboxes = options.purge
    ? ''
    : ` Mailboxes kept (${downObjects(all, { ...options, purge: true }).volumes.length} volumes); \`labctl down --purge\` deletes them.`;
  reporter.result(
    `Removed ${result.containers.length} containers and ${result.networks.length} networks${options.purge ? `, ${result.volumes.length} volumes and ${result.disks.length} disks` : ''} of ${who}.${mailboxes}`,
    result,
  );
  if (missed.length + kept.length > 0) throw unpurged(className, missed, kept);
  return result;
}

/** What --purge left: nodes it could not ask (exit 6, as a lost node), volumes that stayed; and how to finish. */
function unpurged(className: string, missed: string[], kept: KeptObject[]): LabctlError {
  const lines = [...missed, ...kept.map((k) => `${k.name} stays: ${k.why.replace(/\.$/, '')}`)];
  return new LabctlError(
    missed.length > 0 ? ExitCode.notReady : ExitCode.engine,
    `Not everything was purged:\n  ${lines.join('\n  ')}`,
    `Bring the node back (or remove the volumes there with \`docker volume rm\`), then run \`labctl down --class ${className} --purge\` again.`,
    missed.length > 0 ? 'node-lost' : 'volume-kept',
  );
}
