import { stringify } from 'csv-stringify/sync';
import type { Board, StudentResults } from '../core/board-model.js';
import { creditTime, spreadsheetText, timeHeader } from './csv.js';

const doneCount = (s: StudentResults) => s.exercises.filter((e) => e.done).length;
const resultOf = (s: StudentResults, id: string) => s.exercises.find((x) => x.id === id);
const doneAt = (s: StudentResults, id: string) => (resultOf(s, id)?.done ? 1 : 0);
const timeAt = (s: StudentResults, id: string) => creditTime(resultOf(s, id));

/** Moodle's own names for the columns it can match users by ("Map from" → "Email address" or "ID number"). */
export const MOODLE_EMAIL = 'Email address';
export const MOODLE_ID = 'ID number';
export const MOODLE_TOTAL = 'Total';

/**
 * A CSV for Moodle's gradebook import (Grades → Import → CSV file): one row per person of the roster, identified by
 * e-mail and ID number (the student number), then 1 or 0 per exercise and the total, comma-separated, UTF-8, with
 * dots for decimals; then, per exercise, when it was first credited (text: Moodle imports it only into a feedback, or
 * ignores it). Seats without a person are left out (they cannot be matched to a Moodle user). A roster field that a
 * spreadsheet would take for a formula is kept as text (see spreadsheetText).
 */
export function moodleCsv(board: Board): { csv: string; rows: number; skipped: number[] } {
  const people = board.students.filter((s) => s.email);
  const header = [
    MOODLE_EMAIL,
    MOODLE_ID,
    'Full name',
    ...board.exercises.map((e) => e.id),
    MOODLE_TOTAL,
    ...board.exercises.map((e) => timeHeader(e.id)),
  ];
  const rows = people.map((s) => [
    s.email,
    s.number ?? '',
    s.name ?? '',
    ...board.exercises.map((e) => doneAt(s, e.id)),
    doneCount(s),
    ...board.exercises.map((e) => timeAt(s, e.id)),
  ]);
  return {
    csv: stringify(
      [header, ...rows].map((row) => row.map((v) => spreadsheetText(v ?? ''))),
      { record_delimiter: 'unix' },
    ),
    rows: rows.length,
    skipped: board.students.filter((s) => !s.email).map((s) => s.student),
  };
}

/**
 * The board as a spreadsheet: a "Grades" sheet (a row per seat, the times after the grades, a late one in orange) and
 * an "Exercises" sheet (ids and titles).
 */
export async function boardXlsx(board: Board): Promise<Buffer> {
  // Loaded only for a spreadsheet: exceljs and its dependencies take a third of a second to load, on every `check`.
  const { default: ExcelJS } = await import('exceljs');
  const book = new ExcelJS.Workbook();
  book.creator = 'labctl';
  const sheet = book.addWorksheet('Grades', { views: [{ state: 'frozen', ySplit: 1 }] });
  sheet.columns = [
    { header: 'student', key: 'student', width: 9 },
    { header: 'name', key: 'name', width: 28 },
    { header: 'email', key: 'email', width: 30 },
    { header: 'number', key: 'number', width: 14 },
    { header: 'group', key: 'group', width: 9 },
    ...board.exercises.map((e) => ({ header: e.id, key: `ex:${e.id}`, width: Math.max(6, e.id.length + 2) })),
    { header: 'done', key: 'done', width: 7 },
    { header: 'total', key: 'total', width: 7 },
    { header: 'status', key: 'status', width: 24 },
    ...board.exercises.map((e) => ({ header: timeHeader(e.id), key: `at:${e.id}`, width: 26 })),
  ];
  sheet.getRow(1).font = { bold: true };
  for (const s of board.students) {
    const row = sheet.addRow({
      student: s.student,
      name: s.name ?? '',
      email: s.email ?? '',
      number: s.number ?? '',
      group: s.group ?? '',
      ...Object.fromEntries(board.exercises.map((e) => [`ex:${e.id}`, doneAt(s, e.id)])),
      done: doneCount(s),
      total: board.exercises.length,
      status: s.error ?? (s.stopped ? 'stopped' : 'ok'),
      ...Object.fromEntries(board.exercises.map((e) => [`at:${e.id}`, timeAt(s, e.id)])),
    });
    for (const e of board.exercises)
      if (resultOf(s, e.id)?.afterEnd) row.getCell(`at:${e.id}`).font = { color: { argb: 'FFB54708' } };
  }
  const legend = book.addWorksheet('Exercises');
  legend.columns = [
    { header: 'exercise', key: 'id', width: 24 },
    { header: 'title', key: 'title', width: 60 },
  ];
  legend.getRow(1).font = { bold: true };
  for (const e of board.exercises) legend.addRow({ id: e.id, title: e.title });
  return Buffer.from(await book.xlsx.writeBuffer());
}
