import type { ClassObjects, WorkloadInfo, DiskSpec } from '../docker/engine.js';
import { label } from './observed-class.js';
import type { Plan, PlannedWorkload, StudentPlan } from './plan.js';

/** What runs on the engine, as `reconcile` needs it: the class's objects, every name, every published port. */
export interface Observed {
  objects: ClassObjects;
  names: { containers: Set<string>; networks: Set<string>; volumes: Set<string> };
  /** Host port -> the container that publishes it (any container on the engine). */
  published: Map<number, string>;
  /** Whether the engine gives each student a disk of their own (else their volumes are plain). */
  disks: boolean;
}

/** One change to one student's objects. */
export type Step =
  /** The student's disk: made (exists false) or, after a reboot of the engine's host, mounted again. */
  | { kind: 'create-disk'; disk: DiskSpec; exists: boolean }
  | { kind: 'create-network'; name: string; labels: Record<string, string> }
  | { kind: 'create-volume'; name: string; labels: Record<string, string>; disk?: string }
  /** A workload that does not exist: create and start it. */
  | { kind: 'create'; container: PlannedWorkload }
  /** A workload whose spec (image, config, ports…) changed, or that is dead: replace it, keeping the old until the new answers. */
  | { kind: 'replace'; container: PlannedWorkload; current: string; reason: string }
  /** A workload as planned but not running: start it. */
  | { kind: 'start'; name: string; role: string; state: string }
  /** A workload of the class that the plan does not have (a student beyond --students with --prune, a leftover). */
  | { kind: 'remove'; name: string; role: string }
  | { kind: 'remove-network'; name: string };

export interface StudentDiff {
  student: number;
  steps: Step[];
}

export interface Diff {
  className: string;
  /** Students of the plan with something to do, in order. */
  apply: StudentDiff[];
  /** Students of the plan already as planned. */
  unchanged: number[];
  /** Students on the engine beyond the plan. */
  extra: number[];
  /** Their removal, done only with --prune and once every planned student answers. */
  prune: StudentDiff[];
  /** Why the plan cannot be applied; nothing may be changed when there is one. */
  conflicts: Conflict[];
  /** Students whose volumes were made before disks were bounded: plain volumes, not on their disk. */
  unbounded: number[];
}

export interface Conflict {
  code: 'name-taken' | 'port-taken' | 'extra-students';
  message: string;
  hint: string;
}

const studentOf = label.student;
const isWorkload = (c: WorkloadInfo) => label.role(c) === 'mail' || label.role(c) === 'sidecar';

/**
 * The changes that take the engine from `observed` to `plan`. Pure: it reads nothing and changes nothing; `apply`
 * carries the diff out, and `up --dry-run` prints it.
 */
export function reconcile(plan: Plan, observed: Observed, options: { prune?: boolean } = {}): Diff {
  const { objects } = observed;
  const ours = {
    containers: new Map(objects.containers.map((c) => [c.name, c])),
    networks: new Set(objects.networks.map((n) => n.name)),
    volumes: new Set(objects.volumes.map((v) => v.name)),
  };
  const diff: Diff = {
    className: plan.className,
    apply: [],
    unchanged: [],
    extra: [],
    prune: [],
    conflicts: [],
    unbounded: [],
  };
  const disks = new Map(objects.disks.map((d) => [d.name, d]));
  const observedVolumes = new Map(objects.volumes.map((v) => [v.name, v]));
  const planned = new Set(plan.students.flatMap((s) => s.containers.map((c) => c.name)));

  for (const s of plan.students) {
    const steps: Step[] = [];
    clashes(s, observed, ours, plan.className, diff.conflicts);
    if (observed.disks) {
      const disk = disks.get(s.disk.name);
      if (!disk?.mounted) steps.push({ kind: 'create-disk', disk: s.disk, exists: disk !== undefined });
      const plain = s.volumes.some((v) => {
        const seen = observedVolumes.get(v.name);
        return v.disk !== undefined && seen !== undefined && !label.disk(seen);
      });
      if (plain) diff.unbounded.push(s.student);
    }
    if (!ours.networks.has(s.network.name)) steps.push({ kind: 'create-network', ...s.network });
    for (const v of s.volumes) if (!ours.volumes.has(v.name)) steps.push({ kind: 'create-volume', ...v });
    for (const c of s.containers) {
      const current = ours.containers.get(c.name);
      const step = containerStep(c, current);
      if (!step) continue;
      steps.push(step);
      if (step.kind === 'create' || step.kind === 'replace') portConflicts(s, c, observed, diff.conflicts);
    }
    // Leftovers of this student that the plan does not name (e.g. a server kept aside by a run that was killed).
    for (const c of objects.containers) {
      if (isWorkload(c) && studentOf(c) === s.student && !planned.has(c.name)) {
        steps.unshift({ kind: 'remove', name: c.name, role: label.role(c) ?? '' });
      }
    }
    if (steps.length > 0) diff.apply.push({ student: s.student, steps });
    else diff.unchanged.push(s.student);
  }

  const wanted = new Set(plan.students.map((s) => s.student));
  const extra = new Set<number>();
  for (const o of [...objects.containers.filter(isWorkload), ...objects.networks]) {
    const n = studentOf(o);
    if (Number.isInteger(n) && !wanted.has(n)) extra.add(n);
  }
  diff.extra = [...extra].sort((a, b) => a - b);
  if (diff.extra.length > 0 && !options.prune) {
    const some = diff.extra.length > 1;
    diff.conflicts.push({
      code: 'extra-students',
      message: `Class ${plan.className} has student${some ? 's' : ''} ${diff.extra.join(', ')} beyond --students ${plan.students.length}; nothing was changed.`,
      hint: `Add --prune to remove ${some ? 'them' : 'it'} (mailboxes are kept until \`labctl down --purge\`), or run with --students ${Math.max(...diff.extra)}.`,
    });
  }
  for (const n of diff.extra) {
    const steps: Step[] = [
      ...objects.containers
        .filter((c) => isWorkload(c) && studentOf(c) === n)
        .map((c): Step => ({ kind: 'remove', name: c.name, role: label.role(c) ?? '' })),
      ...objects.networks
        .filter((o) => studentOf(o) === n)
        .map((o): Step => ({ kind: 'remove-network', name: o.name })),
    ];
    diff.prune.push({ student: n, steps });
  }
  return diff;
}

/** What to do with one planned workload, given what runs under its name. */
function containerStep(c: PlannedWorkload, current: WorkloadInfo | undefined): Step | undefined {
  if (!current) return { kind: 'create', container: c };
  if (label.spec(current) !== label.spec(c)) {
    const image = label.spec(current) && current.image && current.image !== c.image;
    return { kind: 'replace', container: c, current: current.name, reason: image ? 'new image' : 'new configuration' };
  }
  // A dead container (its removal failed half-way) cannot be trusted to start again.
  if (current.state === 'dead' || current.state === 'removing')
    return { kind: 'replace', container: c, current: current.name, reason: current.state };
  if (current.state === 'running' || current.state === 'restarting') return undefined;
  return { kind: 'start', name: c.name, role: c.role, state: current.state };
}

/** A planned name held by an object that is not the class's. */
function clashes(
  s: StudentPlan,
  observed: Observed,
  ours: { containers: Map<string, WorkloadInfo>; networks: Set<string>; volumes: Set<string> },
  className: string,
  conflicts: Conflict[],
) {
  const clash = (kind: 'container' | 'network' | 'volume', name: string, mine: boolean) => {
    if (mine || !observed.names[`${kind}s`].has(name)) return;
    conflicts.push({
      code: 'name-taken',
      message: `A ${kind} named ${name} already exists and does not belong to class ${className}; nothing was created.`,
      hint: 'Remove it, or choose another --class.',
    });
  };
  clash('network', s.network.name, ours.networks.has(s.network.name));
  for (const v of s.volumes) clash('volume', v.name, ours.volumes.has(v.name));
  for (const c of s.containers) clash('container', c.name, ours.containers.has(c.name));
}

/** A host port the new workload needs, published by another container. */
function portConflicts(s: StudentPlan, c: PlannedWorkload, observed: Observed, conflicts: Conflict[]) {
  for (const port of c.ports) {
    const owner = observed.published.get(port.host);
    if (owner && owner !== c.name) {
      conflicts.push({
        code: 'port-taken',
        message: `Host port ${port.host} (student ${s.student}, ${port.service}) is already published by container ${owner}; nothing was created.`,
        hint: 'Choose another --base-port, or stop that container.',
      });
    }
  }
}

/** The diff in a few lines, as `up --dry-run` prints it. */
export function formatDiff(diff: Diff, plan: Plan): string {
  const lines: string[] = [];
  const describe = (step: Step): string => {
    switch (step.kind) {
      case 'create-disk':
        return `${step.exists ? 'mount' : 'create'} disk ${step.disk.name} (${formatBytes(step.disk.bytes)})`;
      case 'create-network':
        return `create network ${step.name}`;
      case 'create-volume':
        return `create volume ${step.name}`;
      case 'create':
        return `create ${step.container.role} ${step.container.name} (${step.container.image})`;
      case 'replace':
        return `replace ${step.container.role} ${step.current} (${step.reason})`;
      case 'start':
        return `start ${step.role} ${step.name} (${step.state})`;
      case 'remove':
        return `remove ${step.role} ${step.name}`;
      case 'remove-network':
        return `remove network ${step.name}`;
    }
  };
  for (const s of diff.apply) {
    lines.push(`student ${s.student}:`);
    for (const step of s.steps) lines.push(`  ${describe(step)}`);
  }
  if (diff.prune.length > 0) {
    const verb = diff.conflicts.some((c) => c.code === 'extra-students')
      ? 'beyond the plan (kept without --prune)'
      : 'removed (--prune; mailboxes kept)';
    for (const s of diff.prune) {
      lines.push(`student ${s.student}, ${verb}:`);
      for (const step of s.steps) lines.push(`  ${describe(step)}`);
    }
  }
  if (diff.unchanged.length > 0)
    lines.push(`unchanged: student${diff.unchanged.length > 1 ? 's' : ''} ${ranges(diff.unchanged)}`);
  for (const c of diff.conflicts) lines.push(`conflict: ${c.message}\n  ${c.hint}`);
  const changes = diff.apply.reduce((n, s) => n + s.steps.length, 0);
  lines.unshift(
    `Class ${plan.className}: ${changes === 0 && diff.prune.length === 0 ? 'nothing to change' : `${changes} change${changes === 1 ? '' : 's'} for ${diff.apply.length} student${diff.apply.length === 1 ? '' : 's'}`}${diff.conflicts.length > 0 ? `, ${diff.conflicts.length} conflict${diff.conflicts.length > 1 ? 's' : ''}` : ''}.`,
  );
  return lines.join('\n');
}

/** 1 GiB, 512 MiB, 3.2 MiB */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = value >= 10 || Number.isInteger(value) ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/** 1-3, 5, 7-9 */
export function ranges(numbers: number[]): string {
  const parts: string[] = [];
  const sorted = [...numbers].sort((a, b) => a - b);
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(', ');
}
