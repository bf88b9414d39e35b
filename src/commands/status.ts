import { labFromLabels } from '../core/lab.js';
import { DISK_NEAR_FULL, diskUse, studentDisk, type DiskUse } from '../core/board-model.js';
import { LABEL } from '../core/labels.js';
import { formatBytes } from '../core/reconcile.js';
import { parsePorts } from '../core/ports.js';
import { probe, type Greeting } from '../probe.js';
import { table } from '../ui/tables.js';
import { defaultContext, type Context } from './context.js';

export interface StatusOptions {
  className?: string;
  json?: boolean;
}

export interface StudentStatus {
  class: string;
  student: number;
  /** The lab the class runs. */
  lab: string;
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
      lab: '',
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
  const mails = containers.filter((c) => c.labels[LABEL.role] === 'mail');
  const probes = await Promise.all(
    mails.map(async (c) => {
      const row = rows.get(`${c.labels[LABEL.class]}/${c.labels[LABEL.student]}`)!;
      const lab = await labFromLabels(c.labels).catch(() => undefined);
      row.lab = lab?.name ?? c.labels[LABEL.lab] ?? '';
      const ports = parsePorts(c.labels[LABEL.ports]);
      const host = engine.address(c.labels[LABEL.bind] ?? c.ports[0]?.ip ?? '', c.node);
      row.address = host;
      return Object.keys(ports).map(async (service) => {
        const greeting: Greeting = lab?.protocols[service] ?? { protocol: service as Greeting['protocol'] };
        row.services[service] =
          (service === 'web' ? row.containers.sidecar === 'running' : c.state === 'running') &&
          (await probe(host, ports[service]!, greeting, 1500).then(
            () => true,
            () => false,
          ));
      });
    }),
  );
  await Promise.all(probes.flat());
  const result = [...rows.values()].sort((a, b) => a.class.localeCompare(b.class) || a.student - b.student);
  // Every service of every class shown, in their labs' order, the page last; "-" where a class's lab has none.
  const endpoints = [...new Set(result.flatMap((r) => Object.keys(r.services).filter((s) => s !== 'web'))), 'web'];
  const text =
    result.length === 0
      ? `No labctl class${options.className ? ` named ${options.className}` : ''} on this Docker engine.`
      : table(
          ['class', 'student', 'address', 'mail', 'sidecar', ...endpoints, 'disk', 'lab'],
          result.map((r) => [
            r.class,
            r.student,
            r.address,
            r.containers.mail ?? 'missing',
            r.containers.sidecar ?? 'missing',
            ...endpoints.map((s) => (!(s in r.services) ? '-' : r.services[s] ? 'ok' : 'DOWN')),
            diskCell(r.disk),
            r.lab,
          ]),
        );
  reporter.result(text, result);
  return result;
}
