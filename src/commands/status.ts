import { DISK_NEAR_FULL, type DiskUse } from '../core/board-model.js';
import {
  classStatus,
  downStudents,
  lostNodes,
  nodeLostError,
  statusEndpoints,
  type StudentStatus,
} from '../core/class-status.js';
import { ExitCode, LabctlError } from '../errors.js';
import { formatBytes } from '../core/reconcile.js';
import { table } from '../ui/tables.js';
import { defaultContext, type Context, type RunOptions } from './context.js';

export type { StudentStatus } from '../core/class-status.js';

export interface StatusOptions extends RunOptions {
  className?: string;
  /** Greet every service, instead of reading what listens from the sidecars (core/class-status.ts). */
  greet?: boolean;
}

/** "12% of 1 GiB", "FULL 95% of 1 GiB" near the bound, "-" where the engine gives students no disk. */
function diskCell(disk: DiskUse | undefined): string {
  if (!disk) return '-';
  const text = `${disk.percent}% of ${formatBytes(disk.boundBytes)}`;
  return disk.percent >= DISK_NEAR_FULL ? `FULL ${text}` : text;
}

/**
 * Per student: the containers' state, whether each service answers (listens, or greets with `greet`), and up, stopped or DOWN; on an
 * engine of several nodes, each student's node. A student whose node is down has no server: named, exit 6.
 */
export async function status(options: StatusOptions, ctx: Context = defaultContext(options)): Promise<StudentStatus[]> {
  await ctx.engine.ping();
  const result = await classStatus(ctx.engine, options.className, { greet: options.greet ?? false });
  // Every service of every class shown, in their labs' order, the page last; "-" where a class's lab has none.
  const endpoints = statusEndpoints(result);
  const nodes = result.some((r) => r.node !== undefined);
  const text =
    result.length === 0
      ? `No labctl class${options.className ? ` named ${options.className}` : ''} on this Docker engine.`
      : table(
          [
            'class',
            'lab',
            'student',
            'address',
            ...(nodes ? ['node'] : []),
            'mail',
            'sidecar',
            ...endpoints,
            'disk',
            'state',
          ],
          result.map((r) => [
            r.class,
            r.lab,
            r.student,
            r.address,
            ...(nodes ? [r.nodeLost ? `${r.node ?? '?'} (${r.nodeLost})` : (r.node ?? '-')] : []),
            r.containers.mail ?? 'missing',
            r.containers.sidecar ?? 'missing',
            // A stopped student's ports are not asked: they sleep, nothing failed.
            ...endpoints.map((s) =>
              !(s in r.services) || r.state === 'stopped' ? '-' : r.services[s] ? 'ok' : 'DOWN',
            ),
            diskCell(r.disk),
            r.state === 'down' ? 'DOWN' : r.state,
          ]),
        );
  ctx.reporter.result(text, result);
  const lost = lostNodes(result);
  if (lost.length > 0)
    throw nodeLostError(
      lost,
      'Start the node again: its students come back with their mail. See "When a node is lost" in the README.',
    );
  const down = downStudents(result);
  if (down.length > 0) {
    throw new LabctlError(
      ExitCode.notReady,
      `Not every student has a server that answers:\n  ${down.join('\n  ')}`,
      '`labctl up` again starts what is stopped or missing; `labctl logs --student N` shows why a server stopped.',
      'no-server',
    );
  }
  return result;
}
