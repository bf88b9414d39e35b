import type { StudentInfo } from '../core/class-model.js';
import type { Plan } from '../core/plan.js';

/** A plain text table; columns are padded to their widest cell. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The students and their ports: one column per service of the lab, in its order. */
export function studentTable(students: StudentInfo[]): string {
  const services = [...new Set(students.flatMap((s) => Object.keys(s.ports).filter((k) => k !== 'web')))];
  return table(
    ['student', 'domain', ...services, 'accounts'],
    students.map((s) => [s.student, s.domain, ...services.map((k) => s.ports[k] ?? ''), s.pair.join('/')]),
  );
}

/** What --dry-run prints: every object `up` would create; `connect` says where students connect (connectText). */
export function formatPlan(plan: Plan, connect: string): string {
  const lines = [
    `Plan for class ${plan.className} (lab ${plan.lab.name}, ${plan.students.length} students, ports on ${plan.bind}, ${connect}):`,
  ];
  for (const s of plan.students) {
    lines.push(`  student ${s.student}  ${s.domain}  accounts ${s.pair.join('/')}`);
    lines.push(`    network    ${s.network.name}`);
    lines.push(`    volumes    ${s.volumes.map((v) => v.name).join(', ')}`);
    for (const c of s.containers) {
      lines.push(`    container  ${c.name}  image ${c.image}`);
      lines.push(`               ports ${c.ports.map((p) => `${p.service} ${p.host}->${p.container}`).join(', ')}`);
      lines.push(`               files ${c.files.map((f) => `/${f.path}`).join(', ')}`);
    }
  }
  lines.push('Nothing was created (--dry-run).');
  return lines.join('\n');
}
