import { LABEL } from '../core/labels.js';
import { removeObjects } from '../core/class-down.js';
import { usageError } from '../errors.js';
import { confirm } from '../ui/prompt.js';
import { DEFAULT_CLASS, defaultContext, type Context } from './context.js';

export interface DownOptions {
  className?: string;
  student?: number;
  purge?: boolean;
  yes?: boolean;
  json?: boolean;
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
  const all = await engine.list(className);
  const mine = <T extends { labels: Record<string, string> }>(objects: T[]) =>
    objects.filter((o) => options.student === undefined || o.labels[LABEL.student] === String(options.student));
  const containers = mine(all.containers);
  const networks = mine(all.networks);
  const volumes = options.purge ? mine(all.volumes) : [];
  const disks = options.purge ? mine(all.disks) : [];
  const who = options.student === undefined ? `class ${className}` : `student ${options.student} of class ${className}`;
  const result: DownResult = { class: className, containers: [], networks: [], volumes: [], disks: [] };
  if (containers.length + networks.length + volumes.length + disks.length === 0) {
    reporter.result(`Nothing to remove: no labctl objects for ${who}.`, result);
    return result;
  }
  if (options.purge && volumes.length > 0 && !options.yes) {
    if (!process.stdin.isTTY) {
      throw usageError(
        `--purge deletes ${volumes.length} mailbox volume(s) of ${who}, and this is not a terminal to confirm on.`,
        'Add --yes to confirm.',
      );
    }
    if (
      !(await confirm(`Delete the mailboxes and logs of ${who} (${volumes.length} volumes)? This cannot be undone.`))
    ) {
      throw usageError('Cancelled; nothing was removed.');
    }
  }
  await reporter.task(`Removing ${who}`, () =>
    removeObjects(engine, { containers, networks, volumes, disks }, { graceful: !options.purge }),
  );
  result.containers = containers.map((c) => c.name);
  result.networks = networks.map((n) => n.name);
  result.volumes = volumes.map((v) => v.name);
  result.disks = disks.map((d) => d.name);
  const kept = options.purge
    ? ''
    : ` Mailboxes kept (${mine(all.volumes).length} volumes); \`labctl down --purge\` deletes them.`;
  reporter.result(
    `Removed ${result.containers.length} containers and ${result.networks.length} networks${options.purge ? `, ${result.volumes.length} volumes and ${result.disks.length} disks` : ''} of ${who}.${kept}`,
    result,
  );
  return result;
}
