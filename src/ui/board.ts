import { DISK_NEAR_FULL, type Board, type StudentResults } from '../core/board-model.js';
import { creditTime, spreadsheetText, timeHeader } from './csv.js';
import { table } from './tables.js';

/** A student's disk, when near its bound: "disk 95% full". */
export function diskNote(s: Pick<StudentResults, 'disk'>): string {
  return s.disk && s.disk.percent >= DISK_NEAR_FULL ? `disk ${s.disk.percent}% full` : '';
}

/**
 * What the last column says of a student: why their sidecar did not answer, that they are stopped or stuck; and that
 * their disk is nearly full.
 */
export function studentState(
  s: Pick<StudentResults, 'error' | 'stopped' | 'stuckMinutes' | 'disk' | 'noServer'>,
): string {
  const state =
    s.error ??
    (s.stopped ? 'stopped' : s.stuckMinutes === undefined ? '' : `stuck: no progress for ${s.stuckMinutes} min`);
  return [s.noServer && `no server: ${s.noServer}`, state, diskNote(s)].filter(Boolean).join('; ');
}

/**
 * Students × exercises with totals, how many students did each exercise and their share of the class; a
 * student with no progress for the board's stuck time is marked. Exercises are numbered, ids below the grid.
 */
export function boardTable(board: Board): string {
  const numbers = board.exercises.map((_, i) => String(i + 1));
  // With a roster, a column of names after the seat.
  const named = board.students.some((s) => s.name);
  // On Swarm, each student's node after that.
  const onNodes = board.students.some((s) => s.node);
  const name = (s: { name?: string; node?: string }) => [
    ...(named ? [s.name ?? ''] : []),
    ...(onNodes ? [s.node ?? ''] : []),
  ];
  const rows = board.students.map((s) => {
    const done = s.exercises.filter((e) => e.done).length;
    const cells = s.exercises.map((e) => (e.done ? '✔' : e.afterEnd ? '!' : '·'));
    return [String(s.student), ...name(s), ...cells, `${done}/${s.exercises.length}`, studentState(s)];
  });
  const totals = board.exercises.map((e) =>
    String(board.students.filter((s) => s.exercises.find((x) => x.id === e.id)?.done).length),
  );
  const shares = board.shares.map((x) => `${x.percent}%`);
  const grid = table(
    ['student', ...(named ? ['name'] : []), ...(onNodes ? ['node'] : []), ...numbers, 'total', ''],
    [...rows, ['done by', ...name({}), ...totals, '', ''], ['share', ...name({}), ...shares, '', '']],
  );
  const stuck = board.students.filter((s) => s.stuckMinutes !== undefined).map((s) => s.student);
  const note =
    stuck.length > 0
      ? `\n${stuck.length} stuck (no progress for ${board.stuckAfterMinutes} min or more): student ${stuck.join(', ')}`
      : '';
  const width = Math.max(...board.exercises.map((e) => e.id.length));
  const late = board.students.some((s) => s.exercises.some((e) => !e.done && e.afterEnd))
    ? '\n! = done only after the end of the session: not counted'
    : '';
  const legend = board.exercises
    .map((e, i) => `${String(i + 1).padStart(2)}  ${e.id.padEnd(width)}  ${e.title}`)
    .join('\n');
  const session = board.session ? `${sessionLine(board.session)}\n` : '';
  return `Class ${board.class}, lab ${board.lab}\n${session}${grid}${note}${late}\n\n${legend}`;
}

/** "Session ends at 16:00 · extra time: student 2 until 16:15". */
export function sessionLine(session: NonNullable<Board['session']>): string {
  const extra = session.extra.map((x) => `student ${x.student} until ${x.endText}`);
  return `Session ends at ${session.endText}${extra.length > 0 ? ` · extra time: ${extra.join(', ')}` : ''}`;
}

const csvCell = (value: string | number) => {
  const v = String(spreadsheetText(value));
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
};

/**
 * One row per student, 1/0 per exercise, for a grading sheet, then when each was first credited; with a roster, who
 * sits there after the seat.
 */
export function boardCsv(board: Board): string {
  const named = board.students.some((s) => s.name);
  const person = named ? ['name', 'email', 'number', 'group'] : [];
  const ids = board.exercises.map((e) => e.id);
  const header = ['student', ...person, ...ids, 'done', 'total', 'status', ...ids.map(timeHeader)];
  const rows = board.students.map((s) => [
    s.student,
    ...(named ? [s.name ?? '', s.email ?? '', s.number ?? '', s.group ?? ''] : []),
    ...ids.map((id) => (s.exercises.find((x) => x.id === id)?.done ? 1 : 0)),
    s.exercises.filter((e) => e.done).length,
    board.exercises.length,
    s.error ?? (s.stopped ? 'stopped' : 'ok'),
    ...ids.map((id) => creditTime(s.exercises.find((x) => x.id === id))),
  ]);
  return [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\n') + '\n';
}
