import { SERVICES } from '../core/lab.js';
import type { Endpoint } from '../core/ports.js';

const ENDPOINTS: Endpoint[] = [...SERVICES, 'web'];
import { DISK_NEAR_FULL, diskUse, studentDisk, type DiskUse } from '../core/board-model.js';
import { LABEL } from '../core/labels.js';
import { formatBytes } from '../core/reconcile.js';
import { parsePorts } from '../core/ports.js';
import { probe } from '../core/readiness.js';
import { table } from '../ui/tables.js';
import { defaultContext, type Context } from './context.js';

export interface StatusOptions {
  className?: string;
  json?: boolean;
}

export interface StudentStatus {
  class: string;
  student: number;
  /** Where the student's ports answer, as the engine says. */
  address: string;
  containers: Record<string, string>;
  services: Record<string, boolean>;
  /** How full the student's disk is, where the engine gives them one. */
  disk?: DiskUse;
}

/** "12% of 1 GiB", "FULL 95% of 1 GiB" near the bound, "-" where the engine gives students no disk. */
function diskCell(disk: DiskUse | undefined): string {
  if (!disk) return '-';
  const text = `${disk.percent}% of ${formatBytes(disk.boundBytes)}`;
  return disk.percent >= DISK_NEAR_FULL ? `FULL ${text}` : text;
}

/** Per student: the containers' state and whether each service answers with its greeting. */
export async function status(options: StatusOptions, ctx: Context = defaultContext(options)): Promise<StudentStatus[]> {
  const { engine, reporter } = ctx;
  await engine.ping();
  // The class lock (role lock, held while an `up` runs) is no student's container.
  const objects = await engine.list(options.className);
  const containers = objects.containers.filter((c) => c.labels[LABEL.role] !== 'lock');
  const rows = new Map<string, StudentStatus>();
  for (const c of containers) {
    const key = `${c.labels[LABEL.class]}/${c.labels[LABEL.student]}`;
    const row = rows.get(key) ?? {
      class: c.labels[LABEL.class] ?? '',
      student: Number(c.labels[LABEL.student]),
      address: '',
      containers: {},
      services: {},
    };
    row.containers[c.labels[LABEL.role] ?? c.name] = c.state;
    const disk = diskUse(
      studentDisk(
        objects.disks.filter((d) => d.labels[LABEL.class] === row.class),
        row.student,
      ),
    );
    if (disk) row.disk = disk;
    rows.set(key, row);
  }
  const probes = containers
    .filter((c) => c.labels[LABEL.role] === 'mail')
    .flatMap((c) => {
      const row = rows.get(`${c.labels[LABEL.class]}/${c.labels[LABEL.student]}`)!;
      const ports = parsePorts(c.labels[LABEL.ports]);
      const host = engine.address(c.labels[LABEL.bind] ?? c.ports[0]?.ip ?? '', c.node);
      row.address = host;
      return ENDPOINTS.map(async (service) => {
        row.services[service] =
          (service === 'web' ? row.containers.sidecar === 'running' : c.state === 'running') &&
          ports[service] !== undefined &&
          (await probe(host, ports[service], service, 1500).then(
            () => true,
            () => false,
          ));
      });
    });
  await Promise.all(probes);
  const result = [...rows.values()].sort((a, b) => a.class.localeCompare(b.class) || a.student - b.student);
  const text =
    result.length === 0
      ? `No labctl class${options.className ? ` named ${options.className}` : ''} on this Docker engine.`
      : table(
          ['class', 'student', 'address', 'mail', 'sidecar', ...ENDPOINTS, 'disk'],
          result.map((r) => [
            r.class,
            r.student,
            r.address,
            r.containers.mail ?? 'missing',
            r.containers.sidecar ?? 'missing',
            ...ENDPOINTS.map((s) => (r.services[s] ? 'ok' : 'DOWN')),
            diskCell(r.disk),
          ]),
        );
  reporter.result(text, result);
  return result;
}
