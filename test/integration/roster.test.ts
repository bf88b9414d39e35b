import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import ExcelJS from 'exceljs';
import type { ClassInfo } from '../../src/core/class-model.js';
import type { Roster } from '../../src/core/roster.js';
import { BIN, labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { cleanClass, labelled } from '../helpers/docker.js';
import { freeBasePort } from '../helpers/ports.js';
import { ALL_EXERCISES, smtpSession, waitForCredits } from '../helpers/td.js';

const CLASS = `ro${process.pid}`;
let dir = '';
let info: ClassInfo;
let base = 0;

/** A French spreadsheet's export: BOM, semicolons, CRLF, accents, and a comma inside a quoted name. */
const FRENCH =
  '\uFEFFNom;Prénom;Courriel;Numéro étudiant;Groupe\r\n' +
  '"Dupont, dit Jeannot";Jean;jean.dupont@etud.example.fr;22001;TD1\r\n' +
  'Müller;Zoé;zoe.muller@etud.example.fr;22002;TD2\r\n';

const file = async (name: string, content: string) => {
  const p = path.join(dir, name);
  await writeFile(p, content);
  return p;
};
const rosterVolumes = async () =>
  (await labelled(CLASS)).volumes.filter((v) => v.Labels['dev.labctl.role'] === 'roster');

describe('a class list, and grades out', { timeout: 600_000 }, () => {
  before(async () => {
    await cleanClass(CLASS);
    dir = await mkdtemp(path.join(os.tmpdir(), 'ro-roster-'));
    base = await freeBasePort(2);
    const up = await labctl(upArgs(CLASS, 2, base));
    assert.equal(up.code, 0, up.stderr);
    info = await labctlJson<ClassInfo>(['info', '--class', CLASS]);
  });
  after(async () => {
    await cleanClass(CLASS);
    await rm(dir, { recursive: true, force: true });
  });

  it('has no roster at first, and a broken file changes nothing (exit 2, the line named)', async () => {
    const none = await labctl(['roster', 'show', '--class', CLASS]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, new RegExp(`Class ${CLASS} has no roster`));
    const duplicate = await file('doublon.csv', FRENCH + 'Autre;Jean;JEAN.DUPONT@etud.example.fr;22003;TD1\r\n');
    const dup = await labctl(['roster', 'import', duplicate, '--class', CLASS]);
    assert.equal(dup.code, 2);
    assert.match(dup.stderr, /doublon\.csv, line 4: the e-mail JEAN\.DUPONT@etud\.example\.fr is already on line 2\./);
    const missing = await labctl(['roster', 'import', await file('sans.csv', 'nom;numero\nA;1\n'), '--class', CLASS]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /sans\.csv, line 1: no e-mail/);
    const json = await labctl([
      'roster',
      'import',
      await file('mal.csv', 'nom,email,numero\nA,a@x.fr\n'),
      '--class',
      CLASS,
      '--json',
    ]);
    assert.equal(json.code, 2);
    assert.equal(JSON.parse(json.stdout).error.code, 'usage');
    assert.deepEqual(await rosterVolumes(), []);
  });

  it('imports a French export and shows it, kept on a volume labelled with the class', async () => {
    const imported = await labctl(['roster', 'import', await file('classe.csv', FRENCH), '--class', CLASS]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /^1 +Jean Dupont, dit Jeannot +jean\.dupont@etud\.example\.fr +22001 +TD1$/m);
    assert.match(imported.stdout, new RegExp(`Imported 2 people into class ${CLASS}\\.$`, 'm'));
    const volumes = await rosterVolumes();
    assert.equal(volumes.length, 1);
    assert.equal(volumes[0]!.Labels['dev.labctl.class'], CLASS);
    const roster = await labctlJson<Roster>(['roster', 'show', '--class', CLASS]);
    assert.equal(roster.source, 'classe.csv');
    assert.deepEqual(roster.people[1], {
      seat: 2,
      name: 'Zoé Müller',
      email: 'zoe.muller@etud.example.fr',
      number: '22002',
      group: 'TD2',
    });
  });

  it('shows the names on the cards and in info', async () => {
    const text = await labctl(['info', '--class', CLASS]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^Étudiant 1 · Jean Dupont, dit Jeannot · classe ${CLASS} · `, 'm'));
    assert.match(text.stdout, new RegExp(`^Étudiant 2 · Zoé Müller · classe ${CLASS} · `, 'm'));
    const html = await labctl(['info', '--class', CLASS, '--student', '2', '--format', 'html']);
    assert.match(html.stdout, new RegExp(`<h1>Étudiant 2 · Zoé Müller · classe ${CLASS}</h1>`));
    const json = await labctlJson<ClassInfo>(['info', '--class', CLASS]);
    assert.equal(json.students[0]!.email, 'jean.dupont@etud.example.fr');
    assert.equal(json.students[1]!.number, '22002');
  });

  it('exports grades for Moodle, as CSV and as a spreadsheet, with the names and identifiers', async () => {
    const smtp = info.students[0]!.ports.smtp!;
    await smtpSession(smtp, 'util1', ['util11'], ['Subject: Bonjour', '', 'Mon premier message.', '']);
    await waitForCredits(CLASS, 1, ['smtp-simple']);

    const moodle = await labctl(['check', '--class', CLASS, '--format', 'moodle']);
    assert.equal(moodle.code, 0, moodle.stderr);
    const lines = moodle.stdout.trim().split('\n');
    const times = ALL_EXERCISES.map((id) => `${id} time`);
    assert.equal(lines[0], `Email address,ID number,Full name,${ALL_EXERCISES.join(',')},Total,${times.join(',')}`);
    const rows = parse(moodle.stdout, { columns: true }) as Record<string, string>[];
    assert.equal(rows.length, 2);
    assert.equal(rows[0]!['Email address'], 'jean.dupont@etud.example.fr');
    assert.equal(rows[0]!['Full name'], 'Jean Dupont, dit Jeannot');
    assert.equal(rows[0]!['smtp-simple'], '1');
    assert.match(rows[0]!['smtp-simple time']!, /^\d{4}-\d\d-\d\dT[\d:.]+Z$/, 'when it was first credited');
    assert.equal(rows[1]!['smtp-simple time'], '', 'nothing done, no time');
    assert.ok(Number(rows[0]!.Total) >= 1);
    assert.equal(rows[1]!['ID number'], '22002');
    assert.equal(rows[1]!.Total, '0');

    const xlsxFile = path.join(dir, 'notes.xlsx');
    const xlsx = await labctl(['check', '--class', CLASS, '--format', 'xlsx', '--output', xlsxFile]);
    assert.equal(xlsx.code, 0, xlsx.stderr);
    assert.match(xlsx.stderr, new RegExp(`Wrote the spreadsheet to ${xlsxFile}\\.`));
    assert.equal((await stat(xlsxFile)).mode & 0o777, 0o600);
    const book = new ExcelJS.Workbook();
    await book.xlsx.load((await readFile(xlsxFile)) as unknown as Parameters<typeof book.xlsx.load>[0]);
    const sheet = book.getWorksheet('Grades')!;
    const cells = (n: number) => (sheet.getRow(n).values as unknown[]).slice(1);
    assert.deepEqual(cells(1).slice(0, 6), ['student', 'name', 'email', 'number', 'group', ALL_EXERCISES[0]]);
    assert.deepEqual(cells(1).slice(-times.length), times);
    assert.equal(cells(2).at(-times.length + ALL_EXERCISES.indexOf('smtp-simple')), rows[0]!['smtp-simple time']);
    assert.deepEqual(cells(2).slice(0, 5), [
      1,
      'Jean Dupont, dit Jeannot',
      'jean.dupont@etud.example.fr',
      '22001',
      'TD1',
    ]);
    assert.equal(cells(2)[5 + ALL_EXERCISES.indexOf('smtp-simple')], 1);
    assert.deepEqual(cells(3).slice(0, 2), [2, 'Zoé Müller']);

    // To a pipe, the spreadsheet goes to stdout; to a terminal it is refused.
    const piped = spawnSync(process.execPath, [BIN, 'check', '--class', CLASS, '--format', 'xlsx']);
    assert.equal(piped.status, 0, piped.stderr.toString());
    assert.equal(piped.stdout.subarray(0, 2).toString(), 'PK');
    const tty = spawnSync('script', [
      '-qec',
      `${process.execPath} ${BIN} check --class ${CLASS} --format xlsx`,
      '/dev/null',
    ]);
    assert.equal(tty.status, 2, tty.stdout.toString());
    assert.match(tty.stdout.toString(), /Not writing the spreadsheet \(a binary file\) to the terminal/);
    assert.doesNotMatch(tty.stdout.toString(), /PK/);

    // --csv is still the grading sheet, now with the names.
    const csv = await labctl(['check', '--class', CLASS, '--csv']);
    assert.equal(csv.code, 0, csv.stderr);
    assert.match(csv.stdout, /^student,name,email,number,group,/);
    assert.match(csv.stdout, /^2,Zoé Müller,zoe\.muller@etud\.example\.fr,22002,TD2,/m);
    const table = await labctl(['check', '--class', CLASS]);
    assert.match(table.stdout, /^2 +Zoé Müller +(· +)+0\/\d+/m);
  });

  it('refuses a list with more people than seats (exit 3), and replaces the list on a new import', async () => {
    const before = await labctlJson<Roster>(['roster', 'show', '--class', CLASS]);
    const three = await file('trois.csv', FRENCH + 'Curie;Marie;marie.curie@etud.example.fr;22003;TD1\r\n');
    const big = await labctl(['roster', 'import', three, '--class', CLASS]);
    assert.equal(big.code, 3);
    assert.match(
      big.stderr,
      /has 2 student\(s\), and the list seats 3 people .*Marie Curie \(seat 3\).*Nothing was imported/,
    );
    assert.deepEqual(await labctlJson<Roster>(['roster', 'show', '--class', CLASS]), before);

    const swapped = await file('swap.csv', 'poste,name,email,id\n2,Ada,ada@example.org,1\n1,Alan,alan@example.org,2\n');
    const again = await labctl(['roster', 'import', swapped, '--class', CLASS]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /It replaces the previous list \(2 people, from classe\.csv, imported /);
    assert.equal((await rosterVolumes()).length, 1);
    const json = await labctlJson<ClassInfo>(['info', '--class', CLASS]);
    assert.deepEqual(
      json.students.map((s) => s.name),
      ['Alan', 'Ada'],
    );
  });

  it('keeps the list through down, and down --purge removes it', async () => {
    const down = await labctl(['down', '--class', CLASS]);
    assert.equal(down.code, 0, down.stderr);
    assert.equal((await labelled(CLASS)).containers.length, 0);
    assert.equal((await rosterVolumes()).length, 1);
    const kept = await labctlJson<Roster>(['roster', 'show', '--class', CLASS]);
    assert.equal(kept.people.length, 2);
    // The next `up` of the class finds it.
    const up = await labctl(upArgs(CLASS, 2, base));
    assert.equal(up.code, 0, up.stderr);
    assert.match((await labctl(['info', '--class', CLASS, '--student', '2'])).stdout, /^Étudiant 2 · Ada · classe/m);
    const purge = await labctl(['down', '--class', CLASS, '--purge', '--yes']);
    assert.equal(purge.code, 0, purge.stderr);
    assert.deepEqual(await rosterVolumes(), []);
    const gone = await labctl(['roster', 'show', '--class', CLASS]);
    assert.equal(gone.code, 2);
  });
});
