import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClassInfo, StudentInfo } from '../../src/core/class-model.js';
import { loadLab } from '../../src/core/lab.js';
import { parseMessage } from '../../src/sidecar/message.js';
import { handoutHtml, studentHandout, type StudentHandout } from '../../src/ui/handout.js';
import { classInfo, labAccounts as accounts, studentInfo as student, withPassword } from '../helpers/class-info.js';

const fixture = classInfo([student(1), student(2, { accounts: withPassword('util12', 'k9-Zq2') })]);

const lab = await loadLab();

/** The visible text of an HTML fragment: tags dropped, entities decoded. */
function text(html: string): string {
  return html
    .replace(/<style[\s\S]*?<\/style>/g, '')
    .replace(/<[^>]+>/g, '')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

/** The HTML of each student's section. */
function sections(html: string): string[] {
  return html
    .split('<section class="student"')
    .slice(1)
    .map((s) => '<section class="student"' + s);
}

const servicePorts = (s: StudentInfo) => ['smtp', 'pop3', 'imap', 'ssh'].map((k) => String(s.ports[k]));

/** The lines of the first dialogue of this kind in an exercise. */
function dialogue(h: StudentHandout, id: string, kind = 'smtp'): string[] {
  const x = h.exercises.find((e) => e.id === id);
  assert.ok(x, `exercise ${id}`);
  const step = x.steps.find((s) => s.kind === kind);
  assert.ok(step?.lines, `${id} has a ${kind} dialogue`);
  return step.lines;
}

/** What the student types between DATA and the lone dot: the message. */
function typedMessage(lines: string[]): string {
  const start = lines.indexOf('DATA');
  const end = lines.lastIndexOf('.');
  assert.ok(start >= 0 && end > start, lines.join('\n'));
  return lines.slice(start + 1, end).join('\r\n') + '\r\n';
}

describe('handout model', () => {
  it("fills each exercise with the student's own host, ports, domain and accounts", () => {
    const h = studentHandout(fixture, fixture.students[1]!, lab);
    assert.deepEqual(
      h.exercises.map((x) => [x.id, x.title]),
      lab.exercises.map((x) => [x.id, x.title]),
      "the lab's exercises, in its order, with its titles",
    );
    assert.deepEqual(dialogue(h, 'smtp-simple').slice(0, 5), [
      'telnet 192.0.2.10 10225',
      'HELO poste2',
      'MAIL FROM: util2@s02.td1.test',
      'RCPT TO: util12@s02.td1.test',
      'DATA',
    ]);
    assert.deepEqual(dialogue(h, 'smtp-two-recipients').slice(3, 5), [
      'RCPT TO: util2@s02.td1.test',
      'RCPT TO: util12@s02.td1.test',
    ]);
    assert.deepEqual(dialogue(h, 'pop-retr', 'pop3'), [
      'telnet 192.0.2.10 10210',
      'USER util12',
      'PASS k9-Zq2',
      'LIST',
      'RETR 1',
      'QUIT',
    ]);
    assert.equal(dialogue(h, 'imap-fetch', 'imap')[0], 'telnet 192.0.2.10 10243');
    assert.equal(dialogue(h, 'imap-fetch', 'imap')[1], 'a1 LOGIN util12 k9-Zq2');
    const shell = h.tools.flatMap((t) => t.lines ?? []);
    assert.ok(shell.includes('ssh -p 10222 util12@192.0.2.10'), shell.join('\n'));
    assert.ok(shell.includes('cat /var/spool/mail/util12'), shell.join('\n'));
    assert.ok(shell.includes('mail'));
    assert.ok(shell.includes('tail -f /var/log/mail.log'));
  });

  it('gives an exercise the lab file names but the handout does not know its title and a plain instruction', () => {
    const h = studentHandout(fixture, fixture.students[0]!, {
      exercises: [{ id: 'dns-mx', title: 'Trouver le MX du domaine' }],
    });
    assert.equal(h.exercises.length, 1);
    assert.equal(h.exercises[0]!.title, 'Trouver le MX du domaine');
    assert.deepEqual(h.exercises[0]!.steps, []);
  });

  it("types messages the sidecar's own MIME scanner credits", async () => {
    const h = studentHandout(fixture, fixture.students[0]!, lab);
    const subject = await parseMessage(typedMessage(dialogue(h, 'smtp-subject')));
    assert.equal(subject.subject, 'Compte rendu du TD');

    const attachment = await parseMessage(typedMessage(dialogue(h, 'smtp-attachment')));
    assert.equal(attachment.boundary, 'FRONTIERE-TD');
    assert.deepEqual(
      attachment.attachments.map((a) => [a.filename, a.disposition]),
      [['notes.txt', 'attachment']],
    );

    // The student pastes their photo.b64 in place of the line in brackets.
    const b64 = Buffer.from('pas vraiment une image JPEG, mais des octets').toString('base64');
    const base64 = await parseMessage(
      typedMessage(dialogue(h, 'smtp-attachment-base64').map((l) => (l.startsWith('(collez') ? b64 : l))),
    );
    assert.deepEqual(
      base64.attachments.map((a) => [a.filename, a.transferEncoding, a.size]),
      [['photo.jpg', 'base64', 44]],
    );

    const headers = await parseMessage(typedMessage(dialogue(h, 'smtp-headers-from-to')));
    assert.equal(headers.from, 'Secretariat du TD <secretariat@s01.td1.test>');
    assert.equal(headers.to, 'Toute la promotion <promotion@s01.td1.test>');
  });

  it('names an outside sender for the spoofing exercise and an outside recipient for the refused one', () => {
    const h = studentHandout(fixture, fixture.students[0]!, lab);
    const spoof = dialogue(h, 'smtp-spoofed-sender').find((l) => l.startsWith('MAIL FROM:'))!;
    assert.match(spoof, /^MAIL FROM: [^@\s]+@[a-z-]+\.fr$/);
    assert.ok(!spoof.includes('td1.test'));
    const external = dialogue(h, 'smtp-external');
    assert.ok(!external.includes('DATA'), 'the refused recipient ends the session before DATA');
    assert.ok(external.some((l) => /^RCPT TO: \S+@\S+\.fr$/.test(l) && !l.includes('td1.test')));
  });
});

describe('handout HTML', () => {
  const html = handoutHtml(fixture, lab);
  const [one, two] = sections(html);

  it('has one section per student, each with its own ports and none of the classmate’s', () => {
    assert.equal(sections(html).length, 2);
    for (const [mine, theirs, section] of [
      [fixture.students[0]!, fixture.students[1]!, one!],
      [fixture.students[1]!, fixture.students[0]!, two!],
    ] as const) {
      const t = text(section).trimStart();
      assert.ok(t.startsWith(`Étudiant ${mine.student} · classe td1`), t.slice(0, 80));
      for (const port of servicePorts(mine)) assert.match(t, new RegExp(`\\b${port}\\b`), `own port ${port}`);
      for (const port of servicePorts(theirs))
        assert.doesNotMatch(t, new RegExp(`\\b${port}\\b`), `student ${mine.student} shows ${port}`);
      assert.ok(t.includes(`telnet 192.0.2.10 ${mine.ports.smtp}`));
      assert.ok(t.includes(`telnet 192.0.2.10 ${mine.ports.pop3}`));
      assert.ok(t.includes(`telnet 192.0.2.10 ${mine.ports.imap}`));
      assert.ok(t.includes(`ssh -p ${mine.ports.ssh} util${mine.student + 10}@192.0.2.10`));
      assert.ok(t.includes(`cat /var/spool/mail/util${mine.student + 10}`));
      assert.ok(t.includes(`${mine.page}`), 'their progress page');
      for (const x of lab.exercises) assert.ok(t.includes(x.title), x.title);
    }
    assert.match(two!, /PASS k9-Zq2/);
    assert.doesNotMatch(one!, /k9-Zq2/, "student 2's own password is not on student 1's sheet");
  });

  it('starts each student on a new printed page', () => {
    assert.match(html, /\.student \+ \.student \{[^}]*break-before: page/);
  });

  it('escapes everything it interpolates', () => {
    const hostile: ClassInfo = {
      class: 'td<1>',
      lab: 'smtp-pop-imap',
      title: 'TD <script>alert(1)</script>',
      students: [
        student(1, {
          host: '"><img src=x onerror=alert(1)>',
          domain: "s01.td1.test'><b>",
          accounts: accounts.map((a) => (a.user === 'util11' ? { ...a, password: 'a&b<c>"d' } : a)),
          page: 'javascript:alert(1)',
        }),
      ],
    };
    const out = handoutHtml(hostile, {
      ...lab,
      exercises: [{ id: 'x"><i>', title: '<u>titre</u>' }, ...lab.exercises],
    });
    assert.doesNotMatch(out, /<script>|<img|<b>|<u>|<i>|x"><|'><b/);
    assert.ok(out.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
    assert.ok(out.includes('PASS a&amp;b&lt;c&gt;&quot;d'));
    assert.ok(out.includes('telnet &quot;&gt;&lt;img src=x onerror=alert(1)&gt; 10125'));
    assert.ok(!out.includes('href="javascript:'), 'only web addresses become links');
    assert.ok(text(out).includes('PASS a&b<c>"d'), 'shown literally');
  });
});
