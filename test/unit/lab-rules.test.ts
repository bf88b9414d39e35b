import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DEFAULT_LAB_FILE, parseLab } from '../../src/core/lab.js';
import { compileRules } from '../../src/core/lab-rules/compile.js';
import { compileLine, compileText, Tally } from '../../src/core/lab-rules/template.js';
import { eventsOfLine } from '../../src/sidecar/lines.js';
import { parseVerifyLine } from '../../src/sidecar/parse-log.js';

const ctx = { cardDomain: 's01.td1.test', accounts: new Set(['util1', 'util11']) };
const line = (uid: number, text: string) => `2026-11-26T09:52:41.000001+00:00 uid=${uid} pid=300 mail ${text}`;

/** A lab whose one pattern takes any line of any program: what a careless (or hostile) lab file could write. */
const greedy = compileRules({
  evidence: {
    lines: {
      anything: { program: '*', match: '{text:rest}' },
      rooted: { program: '*', match: '{t:rest}', uid: 'root' },
    },
  },
  exercises: [{ id: 'x', title: 'x', credit: { on: 'anything', say: '{text}' } }],
});

describe('lab rules: what a lab can make the sidecar believe', () => {
  it('no pattern reads a line the kernel did not say came from root or Postfix', () => {
    // util1's `logger -t postfix/smtpd …` lands in the verification log only in this shape, if at all: uid 2001.
    assert.deepEqual(eventsOfLine(line(2001, 'postfix/smtpd[1]: ABC: client=x[1.2.3.4]'), greedy, ctx), []);
    assert.deepEqual(eventsOfLine(line(100001, 'pop3d: LOGIN, user=util1, ip=[1.2.3.4]'), greedy, ctx), []);
    // mail.log's own shape (no kernel uid) is never the verification log's.
    assert.deepEqual(eventsOfLine('Nov 26 09:52:41 mail postfix/smtpd[1]: ABC: client=x[1.2.3.4]', greedy, ctx), []);
    assert.equal(eventsOfLine(line(101, 'postfix/smtpd[1]: hello'), greedy, ctx)[0]?.fields.text, 'hello');
  });

  it('a pattern may narrow the trusted senders to root, never widen them', () => {
    assert.deepEqual(
      eventsOfLine(line(101, 'postfix/smtpd[1]: x'), greedy, ctx).map((e) => e.name),
      ['anything'],
    );
    assert.deepEqual(
      eventsOfLine(line(0, 'pop3d: x'), greedy, ctx).map((e) => e.name),
      ['anything', 'rooted'],
    );
  });

  it("reads an address whole, so a student's quoted text is never a field of the line", () => {
    const t = compileLine('{id:queue}: from=<{from:address}>, size={size:int}, nrcpt={n:int}{_:rest}', []);
    const m = t.regex.exec('AB: from=<"x>, size=1, nrcpt=9 y"@s01.td1.test>, size=300, nrcpt=1 (queue active)');
    assert.equal(m?.groups?.f1, '"x>, size=1, nrcpt=9 y"@s01.td1.test');
    assert.equal(m?.groups?.f2, '300');
  });

  it('renders French texts with alternatives and filters', () => {
    const say = compileText('{user or "une session"} : {counts|without:commands|tally} ({reason|first:5}…)', []);
    assert.equal(
      say.render({ counts: new Tally({ helo: 1, rcpt: 0, commands: 2 }), reason: '5.7.1 refusé' }),
      'une session : helo=1 rcpt=0 (5.7.1…)',
    );
  });
});

describe('the TD lab reads the lines as the TD parser does', () => {
  const td = compileRules(parseLab(readFileSync(DEFAULT_LAB_FILE, 'utf8'), DEFAULT_LAB_FILE));
  const names = (text: string, uid = 101) => eventsOfLine(line(uid, text), td, ctx).map((e) => e.name);
  const lines: [string, number, string[]][] = [
    ['postfix/smtpd[163]: connect from unknown[10.213.1.1]', 101, ['connect']],
    ['postfix/smtpd[163]: 6027918029D: client=unknown[10.213.1.1]', 101, ['received']],
    ['postfix/cleanup[166]: 6027918029D: message-id=<>', 101, ['message-id']],
    ['postfix/qmgr[161]: 6027918029D: from=<util1@s01.td1.test>, size=300, nrcpt=2 (queue active)', 101, ['queued']],
    [
      'postfix/local[168]: 6027918029D: to=<util11@s01.td1.test>, orig_to=<util11>, relay=local, delay=0.02, delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to mailbox)',
      0,
      ['delivery', 'delivered'],
    ],
    [
      'postfix/virtual[169]: 6027918029D: to=<archive@archive.labctl.invalid>, relay=virtual, delay=0.03, delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)',
      101,
      ['delivery'],
    ],
    [
      'postfix/smtpd[163]: NOQUEUE: reject: RCPT from unknown[10.213.1.1]: 550 5.7.1 <x@gmail.com>: Recipient address rejected: labctl; from=<util1@s01.td1.test> to=<x@gmail.com> proto=SMTP helo=<pv>',
      101,
      ['rejected'],
    ],
    // The reason names another address than to=: not believed.
    [
      'postfix/smtpd[163]: NOQUEUE: reject: RCPT from unknown[10.213.1.1]: 550 5.7.1 <x@gmail.com>: Recipient address rejected: labctl; from=<u@s01.td1.test> to=<y@gmail.com> proto=SMTP helo=<pv>',
      101,
      [],
    ],
    [
      'postfix/smtpd[163]: disconnect from unknown[10.213.1.1] helo=1 mail=1 rcpt=0/1 quit=1 commands=3/4',
      101,
      ['disconnect'],
    ],
    ['imapd: LOGIN, user=util1, ip=[::ffff:10.213.1.1], port=[40114], protocol=IMAP', 0, ['imap-login']],
    ['pop3d: LOGIN FAILED, user=util9, ip=[::ffff:10.213.1.1]', 0, ['pop3-login-failed']],
    [
      'pop3d: LOGOUT, user=util1, ip=[::ffff:10.1.1.1], port=[40112], top=0, retr=1234, rcvd=40, sent=1300, time=2',
      0,
      ['pop3-logout'],
    ],
    ['imapd-ssl: DISCONNECTED, ip=[::ffff:10.1.1.1], headers=0, body=0, rcvd=6, sent=90, time=0', 0, ['imap-logout']],
  ];
  for (const [text, uid, expected] of lines) {
    it(`${text.slice(0, 60)}… → ${expected.join(', ') || 'nothing'}`, () => {
      assert.deepEqual(names(text, uid), expected);
      // Every line the TD's patterns believe, its own parser believes too, as the same kind of line.
      if (expected.length > 0) assert.ok(parseVerifyLine(line(uid, text)));
    });
  }
});
