import type { Board } from '../core/board-model.js';
import { table } from './tables.js';

/** Students × exercises with totals; exercises are numbered, with their ids below the grid. */
export function boardTable(board: Board): string {
  const numbers = board.exercises.map((_, i) => String(i + 1));
  // With a roster, a column of names after the seat.
  const named = board.students.some((s) => s.name);
  const name = (s: { name?: string }) => (named ? [s.name ?? ''] : []);
  const rows = board.students.map((s) => {
    const done = s.exercises.filter((e) => e.done).length;
    const cells = s.exercises.map((e) => (e.done ? '✔' : '·'));
    return [String(s.student), ...name(s), ...cells, `${done}/${s.exercises.length}`, s.error ?? ''];
  });
  const totals = board.exercises.map((e) =>
    String(board.students.filter((s) => s.exercises.find((x) => x.id === e.id)?.done).length),
  );
  const grid = table(
    ['student', ...(named ? ['name'] : []), ...numbers, 'total', ''],
    [...rows, ['done by', ...name({}), ...totals, '', '']],
  );
  const width = Math.max(...board.exercises.map((e) => e.id.length));
  const legend = board.exercises
    .map((e, i) => `${String(i + 1).padStart(2)}  ${e.id.padEnd(width)}  ${e.title}`)
    .join('\n');
  return `Class ${board.class}, lab ${board.lab}\n${grid}\n\n${legend}`;
}

const csvCell = (v: string | number) => (/[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));

/** One row per student, 1/0 per exercise, for a grading sheet; with a roster, who sits there after the seat. */
export function boardCsv(board: Board): string {
  const named = board.students.some((s) => s.name);
  const person = named ? ['name', 'email', 'number', 'group'] : [];
  const header = ['student', ...person, ...board.exercises.map((e) => e.id), 'done', 'total', 'status'];
  const rows = board.students.map((s) => [
    s.student,
    ...(named ? [s.name ?? '', s.email ?? '', s.number ?? '', s.group ?? ''] : []),
    ...board.exercises.map((e) => (s.exercises.find((x) => x.id === e.id)?.done ? 1 : 0)),
    s.exercises.filter((e) => e.done).length,
    board.exercises.length,
    s.error ?? 'ok',
  ]);
  return [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\n') + '\n';
}
