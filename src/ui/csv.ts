import type { ExerciseStatus } from '../core/wire.js';

/**
 * A cell a spreadsheet takes for a formula when it begins with one of these (OWASP, CSV injection): a roster's
 * `=HYPERLINK("http://…","Voir la note")` would run, or leak the sheet, in the grader's Excel or LibreOffice.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

/** Text for a CSV cell, kept as text: a leading apostrophe tells the spreadsheet so. Numbers pass unchanged. */
export function spreadsheetText(value: string | number): string | number {
  return typeof value === 'string' && FORMULA_START.test(value) ? `'${value}` : value;
}

/** How the exports mark a time that came after the session's end (students may read it: French). */
export const AFTER_END = 'après la fin';

/** The header of an exercise's time column, after the grade columns of every export. */
export const timeHeader = (id: string) => `${id} time`;

/**
 * When an exercise was first credited (ISO, as its sidecar says), for an export's time column: empty when it is not
 * done (or the log did not tell when), and the late time marked "après la fin" when it was proved only after the
 * session's end (it counts as not done).
 */
export function creditTime(e: Pick<ExerciseStatus, 'done' | 'at' | 'afterEnd'> | undefined): string {
  if (e?.afterEnd) return e.at === null ? AFTER_END : `${e.at} (${AFTER_END})`;
  return e?.done ? (e.at ?? '') : '';
}
