import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Board } from '../../src/core/board-model.js';
import type { ClassInfo } from '../../src/core/class-model.js';
import type { LabelledObject } from '../../src/docker/engine.js';
import { FakeEngine } from '../helpers/fake-engine.js';
import { boardPage, boardView } from '../../src/ui/board-page.js';
import { studentCard } from '../../src/ui/cards.js';
import { cardsHtml, cardsMarkdown } from '../../src/ui/print-cards.js';
import { LABEL } from '../../src/core/labels.js';
import { parseRoster, personAt, rosterOf, saveRoster } from '../../src/core/roster.js';
import { ExitCode, LabctlError } from '../../src/errors.js';

/** Asserts that parsing fails with exit 2 and a message matching `message`. */
function rejects(input: string | Buffer, message: RegExp): void {
  assert.throws(
    () => parseRoster(input, 'classe.csv'),
    (error: unknown) => {
      assert.ok(error instanceof LabctlError, String(error));
      assert.equal(error.exitCode, ExitCode.usage);
      assert.match(error.message, message);
      return true;
    },
  );
}

describe('roster: reading a class list', () => {
  it('reads an English file with commas, in file order', () => {
    const people = parseRoster(
      'name,email,student number,group\nAda Lovelace,ada@example.org,21001,G1\nAlan Turing,alan@example.org,21002,\n',
      'list.csv',
    );
    assert.deepEqual(people, [
      { seat: 1, name: 'Ada Lovelace', email: 'ada@example.org', number: '21001', group: 'G1' },
      { seat: 2, name: 'Alan Turing', email: 'alan@example.org', number: '21002' },
    ]);
  });

  it('reads a French Excel export: BOM, semicolons, accents, separate first names, a comma in a name', () => {
    const text =
      '\uFEFFNom;Prénom;Courriel;Numéro étudiant;Groupe\r\n"Dupont, dit Jeannot";Jean;jean.dupont@etud.u-picardie.fr;22001;TD2\r\nÉlodie;Marie-Hélène;mh@etud.u-picardie.fr;22002;TD1\r\n';
    const people = parseRoster(Buffer.from(text, 'utf8'), 'export.csv');
    assert.equal(people.length, 2);
    assert.deepEqual(people[0], {
      seat: 1,
      name: 'Jean Dupont, dit Jeannot',
      email: 'jean.dupont@etud.u-picardie.fr',
      number: '22001',
      group: 'TD2',
    });
    assert.equal(people[1]!.name, 'Marie-Hélène Élodie');
  });

  it('puts a name whose cell holds line breaks on one line', () => {
    const people = parseRoster('nom;email;numero\n"Zoé\r\n\r\n# Note : 20/20\n  Martin";z@x.fr;7\n', 'a.csv');
    assert.equal(people[0]!.name, 'Zoé # Note : 20/20 Martin');
  });

  it('accepts the usual header spellings and ignores other columns', () => {
    const people = parseRoster('E-mail,ID,Nom,Remarque\nx@y.fr,7,Zoé,absente lundi\n', 'a.csv');
    assert.deepEqual(people, [{ seat: 1, name: 'Zoé', email: 'x@y.fr', number: '7' }]);
  });

  it('takes seats from a seat column when there is one', () => {
    const people = parseRoster('poste;nom;email;numero\n3;C;c@x.fr;3\n1;A;a@x.fr;1\n', 'a.csv');
    assert.deepEqual(
      people.map((p) => [p.seat, p.name]),
      [
        [1, 'A'],
        [3, 'C'],
      ],
    );
    rejects(
      'poste;nom;email;numero\n1;A;a@x.fr;1\n1;B;b@x.fr;2\n',
      /^classe\.csv, line 3: seat 1 is already taken on line 2\.$/,
    );
    rejects('poste;nom;email;numero\n1;A;a@x.fr;1\ndeux;B;b@x.fr;2\n', /line 3: the seat "deux" is not a number/);
  });

  it('names the missing column', () => {
    rejects(
      'nom,numero\nA,1\n',
      /^classe\.csv, line 1: no e-mail \(email, e-mail, courriel\) column; the header row is: nom, numero\.$/,
    );
    rejects('nom,email\nA,a@x.fr\n', /line 1: no student number/);
    rejects('email,numero\na@x.fr,1\n', /line 1: no name/);
  });

  it('names the line of a duplicate e-mail (any case) or student number', () => {
    rejects(
      'nom,email,numero\nA,a@x.fr,1\nB,b@x.fr,2\nC,A@X.FR,3\n',
      /^classe\.csv, line 4: the e-mail A@X\.FR is already on line 2\.$/,
    );
    rejects(
      'nom,email,numero\nA,a@x.fr,1\n\nB,b@x.fr,1\n',
      /^classe\.csv, line 4: the student number 1 is already on line 2\.$/,
    );
  });

  it('names the line of a malformed row', () => {
    rejects('nom,email,numero\nA,a@x.fr,1\nB,b@x.fr\n', /^classe\.csv, line 3: not a valid CSV row/);
    rejects('nom,email,numero\nA,a@x.fr,1\nB,"b@x.fr,2\n', /^classe\.csv, line 3: not a valid CSV row/);
    rejects(
      'nom,email,numero\nA,pas-une-adresse,1\n',
      /^classe\.csv, line 2: "pas-une-adresse" is not an e-mail address\.$/,
    );
    rejects('nom,email,numero\nA,a@x.fr,\n', /^classe\.csv, line 2: no student number\.$/);
    rejects('nom,email,numero\n,a@x.fr,1\n', /^classe\.csv, line 2: no name\.$/);
  });

  it('refuses an empty file and a file with nobody in it', () => {
    rejects('', /classe\.csv is empty/);
    rejects('\uFEFF\n\n', /classe\.csv is empty/);
    rejects('nom,email,numero\n', /lists nobody/);
  });
});

describe('roster: kept with the class', () => {
  const people = parseRoster('nom,email,numero\nA,a@x.fr,1\nB,b@x.fr,2\n', 'a.csv');

  it('stores the list on a volume labelled with the class, and reads it back', async () => {
    const engine = new FakeEngine();
    await saveRoster(engine, 'ro1', people, 'a.csv', new Date('2026-11-26T10:00:00Z'));
    const [volume, ...others] = engine.volumes.values();
    assert.equal(others.length, 0);
    assert.equal(volume!.labels[LABEL.class], 'ro1');
    assert.equal(volume!.labels[LABEL.role], 'roster');
    assert.match(volume!.name, /^labctl-ro1-roster-/);
    const roster = rosterOf('ro1', (await engine.list('ro1')).volumes);
    assert.deepEqual(roster, { class: 'ro1', importedAt: '2026-11-26T10:00:00.000Z', source: 'a.csv', people });
    assert.deepEqual(personAt(roster, 2), { name: 'B', email: 'b@x.fr', number: '2' });
    assert.deepEqual(personAt(roster, 3), {});
  });

  it('refuses a name no class can have', async () => {
    await assert.rejects(saveRoster(new FakeEngine(), 'TD 1', people, 'a.csv'), /"TD 1" is not a class name/);
  });

  it('replaces the previous list, and keeps it when the new one cannot be stored', async () => {
    const engine = new FakeEngine();
    await saveRoster(engine, 'ro1', people, 'a.csv', new Date('2026-11-26T10:00:00Z'));
    await saveRoster(engine, 'ro1', people.slice(0, 1), 'b.csv', new Date('2026-11-26T11:00:00Z'));
    assert.equal(engine.volumes.size, 1);
    assert.equal(rosterOf('ro1', [...engine.volumes.values()])?.source, 'b.csv');

    const failing = new FakeEngine();
    await saveRoster(failing, 'ro1', people, 'a.csv', new Date('2026-11-26T10:00:00Z'));
    const kept = [...failing.volumes.values()];
    failing.failOn = (call) => call.startsWith('create-volume');
    await assert.rejects(saveRoster(failing, 'ro1', [], 'b.csv'), /create-volume .* failed/);
    assert.deepEqual([...failing.volumes.values()], kept);
  });

  it('reads the newest list when an interrupted import left two, and ignores labels it did not write', () => {
    const volume = (name: string, importedAt: string, source: string): LabelledObject => ({
      name,
      labels: {
        [LABEL.class]: 'ro1',
        [LABEL.role]: 'roster',
        [LABEL.roster]: JSON.stringify({ importedAt, source, people }),
      },
    });
    const garbage = { name: 'x', labels: { [LABEL.role]: 'roster', [LABEL.roster]: '{"people": 3' } };
    const roster = rosterOf('ro1', [
      volume('a', '2026-11-26T10:00:00.000Z', 'old.csv'),
      garbage,
      volume('b', '2026-11-26T11:00:00.000Z', 'new.csv'),
    ]);
    assert.equal(roster?.source, 'new.csv');
    assert.equal(rosterOf('ro1', [garbage]), undefined);
  });
});

describe('roster: names where the class is shown', () => {
  const info: ClassInfo = {
    class: 'ro1',
    lab: 'smtp-pop-imap',
    title: 'TD protocole SMTP, POP, IMAP',
    students: [1, 2].map((n) => ({
      student: n,
      ...(n === 1 && { name: 'Zoé <Martin>', email: 'zoe@x.fr', number: '22001' }),
      host: '192.0.2.10',
      domain: `etudiant${n}.lab`,
      ports: { smtp: 10025 + n * 100, pop3: 10010 + n * 100, imap: 10043 + n * 100, ssh: 10022 + n * 100 },
      accounts: [{ user: `util${n}`, password: 'master2021' }],
      pair: [`util${n}`, `util${n + 10}`] as [string, string],
      state: 'running',
      page: null,
    })),
  };

  it('puts the name on the card of the seat, and no name on a free seat', () => {
    assert.match(studentCard(info, info.students[0]!), /^Étudiant 1 · Zoé <Martin> · classe ro1 · TD/m);
    assert.match(studentCard(info, info.students[1]!), /^Étudiant 2 · classe ro1 · TD/m);
    const html = cardsHtml(info);
    assert.match(html, /<h1>Étudiant 1 · Zoé &lt;Martin&gt; · classe ro1<\/h1>/);
    assert.match(html, /<h1>Étudiant 2 · classe ro1<\/h1>/);
    assert.match(cardsMarkdown(info), /^# Étudiant 1 · Zoé &lt;Martin\\> · classe ro1$/m);
  });

  it("puts the name in the board's row header, escaped", () => {
    const board: Board = {
      class: 'ro1',
      lab: 'smtp-pop-imap',
      exercises: [{ id: 'smtp-simple', title: 'Envoyer' }],
      stuckAfterMinutes: 15,
      shares: [],
      students: [
        {
          student: 1,
          name: 'Zoé <Martin>',
          exercises: [{ id: 'smtp-simple', title: 'Envoyer', done: true, at: null, evidence: null }],
        },
        { student: 2, exercises: [{ id: 'smtp-simple', title: 'Envoyer', done: false, at: null, evidence: null }] },
      ],
    };
    const page = boardPage(boardView(board), '/api/stream');
    assert.match(page, /<tr id="student-1" class="up"><th>1 <span class="name">Zoé &lt;Martin&gt;<\/span><\/th>/);
    assert.match(page, /<tr id="student-2" class="up"><th>2<\/th>/);
  });
});
