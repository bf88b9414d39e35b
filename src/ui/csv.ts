/**
 * A cell a spreadsheet takes for a formula when it begins with one of these (OWASP, CSV injection): a roster's
 * `=HYPERLINK("http://…","Voir la note")` would run, or leak the sheet, in the grader's Excel or LibreOffice.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

/** Text for a CSV cell, kept as text: a leading apostrophe tells the spreadsheet so. Numbers pass unchanged. */
export function spreadsheetText(value: string | number): string | number {
  return typeof value === 'string' && FORMULA_START.test(value) ? `'${value}` : value;
}
