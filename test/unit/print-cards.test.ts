import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClassInfo, StudentInfo } from '../../src/core/class-model.js';
import { cardsHtml, cardsMarkdown, MD_PAGE_BREAK } from '../../src/ui/print-cards.js';
import { classInfo, studentInfo, withPassword } from '../helpers/class-info.js';

const student = (n: number, overrides: Partial<StudentInfo> = {}) =>
  studentInfo(n, { domain: `etudiant${n}.lab`, ...overrides });

/** Student 2 has ports 10225/10210/10243/10222/10280, pair util2/util12, and its own util12 password. */
const fixture = classInfo([student(1, { page: null }), student(2, { accounts: withPassword('util12', 'autre&mdp') })]);

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

function htmlCards(info: ClassInfo): string[] {
  return cardsHtml(info)
    .split('<section class="card"')
    .slice(1)
    .map((c) => '<section class="card"' + c);
}

function mdCards(info: ClassInfo): string[] {
  return cardsMarkdown(info).split(MD_PAGE_BREAK);
}

describe('printable student cards (HTML)', () => {
  it('is a standalone French page with one card per student', () => {
    const html = cardsHtml(fixture);
    assert.match(html, /^<!DOCTYPE html>/);
    assert.match(html, /<html lang="fr">/);
    assert.equal(htmlCards(fixture).length, 2);
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\/(?!192\.0\.2\.10)/, 'no external resources');
    assert.doesNotMatch(html, /<link|<script|@import|url\(/);
  });

  it("fills the TD's commands with student 2's values", () => {
    const card = text(htmlCards(fixture)[1]!);
    assert.match(card, /Étudiant 2 · classe td1/);
    assert.match(card, /192\.0\.2\.10/);
    assert.match(card, /etudiant2\.lab/);
    for (const cmd of [
      'telnet 192.0.2.10 10225',
      'telnet 192.0.2.10 10210',
      'telnet 192.0.2.10 10243',
      'ssh -p 10222 util2@192.0.2.10',
      'MAIL FROM: <util2@etudiant2.lab>',
      'RCPT TO: <util12@etudiant2.lab>',
      'a LOGIN util2 master2021',
      'a SELECT INBOX',
      'a FETCH 1 BODY[TEXT]',
    ]) {
      assert.ok(card.includes(cmd), `card 2 shows ${cmd}`);
    }
    assert.match(card, /^HELO /m);
    assert.match(card, /^DATA$/m);
    assert.match(card, /^\.$/m);
    assert.match(card, /^QUIT$/m);
  });

  it('lists the ports and each account of the pair with its own password', () => {
    const html = htmlCards(fixture)[1]!;
    assert.match(html, /SMTP<\/th><td class="mono">10225</);
    assert.match(html, /POP3<\/th><td class="mono">10210</);
    assert.match(html, /IMAP<\/th><td class="mono">10243</);
    assert.match(html, /SSH<\/th><td class="mono">10222</);
    assert.match(html, /<td class="mono">util2<\/td><td class="mono">master2021<\/td>/);
    assert.match(html, /<td class="mono">util12<\/td><td class="mono">autre&amp;mdp<\/td>/);
  });

  it('gives the graphical mail client settings, without encryption', () => {
    const card = text(htmlCards(fixture)[1]!);
    assert.match(card, /Serveur entrant POP3192\.0\.2\.10, port 10210/);
    assert.match(card, /serveur entrant IMAP192\.0\.2\.10, port 10243/);
    assert.match(card, /Serveur sortant SMTP192\.0\.2\.10, port 10225/);
    assert.match(card, /Identifiantutil2 \(ou util12\)/);
    assert.match(card, /Mot de passemaster2021 \(pour util12 : autre&mdp\)/);
    assert.match(card, /pas de chiffrement/);
  });

  it('links the progress page, and shows no link at all when there is none', () => {
    const [one, two] = htmlCards(fixture);
    assert.ok(two!.includes('<a class="mono" href="http://192.0.2.10:10280/?k=key2">'));
    assert.match(text(two!), /Votre page de progression : http:\/\/192\.0\.2\.10:10280\/\?k=key2/);
    assert.doesNotMatch(one!, /<a\b/);
    assert.doesNotMatch(one!, /progression/);
    assert.doesNotMatch(one!, /null|undefined/);
  });

  it('puts each card on its own printed A4 page', () => {
    const html = cardsHtml(fixture);
    assert.match(html, /@page \{ size: A4;/);
    assert.match(html, /\.card \{[^}]*break-after: page;/);
    assert.match(html, /@media print \{/);
  });

  it('escapes every value', () => {
    const evil: ClassInfo = {
      class: '<b>td</b>',
      lab: 'x',
      title: 'T & "D"',
      students: [
        student(3, {
          host: '10.0.0.1<script>alert(1)</script>',
          domain: 'a"b.lab',
          pair: ['u<1>', 'u&2'],
          accounts: [
            { user: 'u<1>', password: "p'<i>" },
            { user: 'u&2', password: 'q' },
          ],
          page: 'javascript:alert(1)',
        }),
      ],
    };
    const html = cardsHtml(evil);
    assert.doesNotMatch(html, /<script|<b>|<i>|<1>/);
    assert.ok(html.includes('telnet 10.0.0.1&lt;script&gt;alert(1)&lt;/script&gt; 10325'));
    assert.ok(html.includes('classe &lt;b&gt;td&lt;/b&gt;'));
    assert.ok(html.includes('p&#39;&lt;i&gt;'));
    assert.doesNotMatch(html, /href="javascript:/, 'only web addresses become links');
    assert.ok(text(html).includes('ssh -p 10322 u<1>@10.0.0.1<script>alert(1)</script>'));
  });
});

describe('printable student cards (Markdown)', () => {
  it('has the same content, one card per student between page-break markers', () => {
    const md = cardsMarkdown(fixture);
    assert.equal(md.split('\n').filter((l) => l === MD_PAGE_BREAK).length, 1);
    assert.equal(MD_PAGE_BREAK, '<div style="page-break-after: always"></div>');
    const cards = mdCards(fixture);
    assert.equal(cards.length, 2);
    assert.match(cards[0]!, /^# Étudiant 1 · classe td1$/m);
    assert.match(cards[1]!, /^# Étudiant 2 · classe td1$/m);
  });

  it("fills the TD's commands, ports and per-account passwords for student 2", () => {
    const card = mdCards(fixture)[1]!;
    for (const cmd of [
      '`telnet 192.0.2.10 10225`',
      '`telnet 192.0.2.10 10210`',
      '`telnet 192.0.2.10 10243`',
      '`ssh -p 10222 util2@192.0.2.10`',
    ]) {
      assert.ok(card.includes(cmd), `card 2 shows ${cmd}`);
    }
    assert.match(
      card,
      /^```text\ntelnet 192\.0\.2\.10 10225\nHELO [^\n]+\nMAIL FROM: <util2@etudiant2\.lab>\nRCPT TO: <util12@etudiant2\.lab>\nDATA\n/m,
    );
    assert.match(card, /^\.\nQUIT\n```$/m);
    assert.match(card, /^a LOGIN util2 master2021\na SELECT INBOX\na FETCH 1 BODY\[TEXT\]$/m);
    assert.match(card, /^\| SMTP \| `10225` \|$/m);
    assert.match(card, /^\| SSH \| `10222` \|$/m);
    assert.match(card, /^\| `util2` \| `master2021` \| `util2@etudiant2\.lab` \|$/m);
    assert.match(card, /^\| `util12` \| `autre&mdp` \| `util12@etudiant2\.lab` \|$/m);
    assert.match(card, /pas de chiffrement/);
    assert.match(card, /^\*\*Votre page de progression :\*\* <http:\/\/192\.0\.2\.10:10280\/\?k=key2>$/m);
  });

  it('shows no link when the page is null', () => {
    const card = mdCards(fixture)[0]!;
    assert.doesNotMatch(card, /progression|null|undefined|http/);
  });

  it('keeps a name with line breaks on its heading line', () => {
    // A class list whose name cell held line breaks, written to add a heading and a link to the card.
    const name = 'Zoé Martin\n\nNote finale : 20/20\n===\r\n- Rendez-vous sur http://evil.example';
    const card = mdCards(classInfo([student(1, { name })]))[0]!;
    const lines = card.split('\n');
    assert.equal(
      lines[0],
      '# Étudiant 1 · Zoé Martin Note finale : 20/20 === - Rendez-vous sur http://evil.example · classe td1',
    );
    assert.ok(!lines.some((l) => /^(===|- Rendez-vous|Note finale)/.test(l)), card);
  });

  it('escapes Markdown and HTML in values', () => {
    const md = cardsMarkdown({
      class: '*td*<b>',
      lab: 'x',
      title: '[clic](javascript:x)',
      students: [student(1, { host: 'h`<i>', page: 'javascript:alert(1)' })],
    });
    assert.match(md, /^# Étudiant 1 · classe \\\*td\\\*&lt;b\\>$/m);
    assert.ok(md.includes('*\\[clic\\](javascript:x)*'));
    assert.ok(md.includes('``telnet h`<i> 10125``'), 'a backtick in a value does not break its code span');
    assert.ok(md.includes('`javascript:alert(1)`'), 'only web addresses become links');
    assert.doesNotMatch(md, /<javascript:/);
  });
});
