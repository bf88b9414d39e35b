import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { accountOf, classDomain, isInsideLab, isSpoofedSender } from '../../src/sidecar/address.js';
import { EXERCISE_IDS, evaluate, Verifier, type CheckInput } from '../../src/sidecar/checks.js';
import { parseVerifyLog } from '../../src/sidecar/parse-log.js';
import { Base64Counter, parseMessage, receivedQueueId, type MessageFacts } from '../../src/sidecar/message.js';

const LAB = ['s01.td1.test'];
const CLIENT = 'unknown[10.213.1.1]';
const JPEG = Buffer.from('ffd8ffe000104a46494600010100000100010000ffd9', 'hex');
const ARCHIVE = 'archive@archive.labctl.invalid';

let clock = 0;
/**
 * Lines of the trusted verification log, one second apart: Postfix's daemons as uid 101, local(8) and
 * Courier as uid 0.
 */
function log(...lines: string[]): string[] {
  return lines.map((line) => {
    const uid = /^(postfix\/local|pop3d|imapd)/.test(line) ? 0 : 101;
    const time = `2026-11-26T09:${String(Math.floor(clock / 60) % 60).padStart(2, '0')}:${String(clock++ % 60).padStart(2, '0')}.000001+00:00`;
    return `${time} uid=${uid} pid=${300 + (clock % 50)} mail ${line}`;
  });
}

const localLine = (queueId: string, to: string, origTo: string, how: string) =>
  `postfix/local[168]: ${queueId}: to=<${to}>, orig_to=<${origTo}>, relay=local, delay=0.02, delays=0/0/0/0, dsn=2.0.0, status=sent (${how})`;

/**
 * The log of one SMTP transaction delivered to `accounts`, twice each as in the lab (mailbox, then Maildir
 * through .forward), plus the archive copy that virtual(8) delivers for always_bcc.
 */
function smtpSession(queueId: string, from: string, accounts: string[], messageId = ''): string[] {
  return log(
    `postfix/smtpd[163]: connect from ${CLIENT}`,
    `postfix/smtpd[163]: ${queueId}: client=${CLIENT}`,
    `postfix/cleanup[166]: ${queueId}: message-id=<${messageId}>`,
    `postfix/qmgr[161]: ${queueId}: from=<${from}>, size=190, nrcpt=${accounts.length + 1} (queue active)`,
    `postfix/virtual[169]: ${queueId}: to=<${ARCHIVE}>, relay=virtual, delay=0.03, delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)`,
    ...accounts.flatMap((a) =>
      ['delivered to mailbox', 'delivered to maildir'].map((how) => localLine(queueId, `${a}@s01.td1.test`, a, how)),
    ),
    `postfix/smtpd[163]: disconnect from ${CLIENT} helo=1 mail=1 rcpt=${accounts.length} data=1 quit=1 commands=${4 + accounts.length}`,
  );
}

/** The archive copy of a message our smtpd received as `queueId`, as virtual(8) stores it. */
function received(queueId: string, message: string, envelope = 'president@u-picardie.fr'): Promise<MessageFacts> {
  const top = [
    `Return-Path: <${envelope}>`,
    `Delivered-To: ${ARCHIVE}`,
    `Received: from pv (unknown [10.213.1.1])\r\n\tby mail.s01.td1.test (Postfix) with SMTP id ${queueId}\r\n\tfor <util1>; Thu, 26 Nov 2026 09:52:41 +0000 (UTC)`,
  ];
  return parseMessage(`${top.join('\r\n')}\r\n${message.replace(/\r?\n/g, '\r\n')}`);
}

function input(lines: string[], messages: MessageFacts[] = []): CheckInput {
  return { events: parseVerifyLog(lines.join('\n')), messages, labDomains: LAB };
}

function check(id: string, given: CheckInput) {
  const found = evaluate(given, [id])[0];
  assert.ok(found);
  return found;
}

const TD_MULTIPART = `From: util1@s01.td1.test
To: util11@s01.td1.test
Subject: fichier joint
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="------------0000000000"

This is a multi-part message in MIME format.
--------------0000000000
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 7bit

Voici le fichier.

--------------0000000000
Content-Type: text/plain; name="notes.txt"
Content-Transfer-Encoding: 7bit
Content-Disposition: attachment; filename="notes.txt"

contenu du fichier

--------------0000000000--
`;

function withJpeg(base64: string): string {
  return `Subject: photo
Content-Type: multipart/mixed; boundary="------------0000000000"

--------------0000000000
Content-Type: text/plain

Une image.
--------------0000000000
Content-Type: image/jpeg; name="photo.jpg"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="photo.jpg"

${base64}
--------------0000000000--
`;
}

describe('message scanning', () => {
  it('takes the queue id from the top Received header only', async () => {
    assert.equal((await received('6027918029D', 'Subject: a\n\nbody\n')).queueId, '6027918029D');
    const forged = await parseMessage(
      'Received: by mail (Postfix, from userid 0) id 11AA\r\nReceived: from x by y with ESMTP id 22BB\r\n\r\nbody\r\n',
    );
    assert.equal(forged.queueId, undefined);
  });

  it('believes no queue id when the HELO name in the top Received header names another one', () => {
    const value = 'from x with SMTP id AAAA1 (unknown [10.213.1.1]) by mail (Postfix) with ESMTP id BBBB2; date';
    assert.equal(receivedQueueId([{ key: 'received', value }]), undefined);
  });

  it('checks base64 chunk by chunk', () => {
    const count = (...chunks: string[]) => {
      const counter = new Base64Counter();
      for (const c of chunks) counter.write(Buffer.from(c));
      return counter.result();
    };
    assert.equal(count('/9j/4AAQ', 'SkZJRg==\r\n'), 10);
    assert.equal(count('/9j/4AA'), 5, 'unpadded, whole bytes');
    assert.equal(count('/9j/4'), undefined, 'one character short of a byte');
    assert.equal(count(''), undefined, 'empty');
    assert.equal(count('/9j/', '4A!Q'), undefined, 'stray character');
    assert.equal(count('/9==', 'AAAA'), undefined, 'data after padding');
  });

  it('decodes an encoded Subject and RFC 2231 file names, and finds parts in nested multiparts', async () => {
    const facts = await parseMessage(
      [
        'Subject: =?UTF-8?B?w6l0w6k=?= =?ISO-8859-1?Q?_=E0_Amiens?=',
        'Content-Type: multipart/mixed; boundary=outer',
        '',
        '--outer',
        'Content-Type: multipart/alternative; boundary="inner"',
        '',
        '--inner',
        'Content-Type: text/plain',
        '',
        'texte',
        '--inner',
        'Content-Type: text/html',
        '',
        '<p>texte</p>',
        '--inner--',
        '--outer',
        'Content-Type: application/pdf',
        'Content-Transfer-Encoding: base64',
        "Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf",
        '',
        'JVBERi0xLjQK',
        '--outer--',
        '',
      ].join('\r\n'),
    );
    assert.equal(facts.subject, 'été à Amiens');
    assert.equal(facts.boundary, 'outer');
    assert.deepEqual(facts.attachments, [
      {
        filename: 'résumé.pdf',
        mimeType: 'application/pdf',
        disposition: 'attachment',
        transferEncoding: 'base64',
        size: 9,
      },
    ]);
  });

  it('refuses a header block over 256 KiB', async () => {
    await assert.rejects(parseMessage(`Subject: x\n${'X-Pad: y\n'.repeat(5000)}\nbody\n`), /header block over/);
  });

  it('reads a message of garbage without throwing, and finds nothing in it', async () => {
    const facts = await parseMessage(Buffer.from([0, 255, 13, 10, 0x3a, 0x3a, 10, 10, 1, 2, 3]));
    assert.equal(facts.queueId, undefined);
    assert.deepEqual(facts.attachments, []);
  });
});

describe('lab domains', () => {
  it("takes the class's domain from the card's", () => {
    assert.equal(classDomain('s01.td1.test'), 'td1.test');
    assert.equal(classDomain('lab.test'), 'lab.test');
  });

  it('puts bare users, localhost, the class domain and its subdomains inside', () => {
    for (const a of ['util1', 'util1@localhost', 'x@td1.test', 'x@s02.td1.test', 'x@mail.s01.td1.test']) {
      assert.equal(isInsideLab(a, 's01.td1.test'), true, a);
    }
    for (const a of ['x@gmail.com', 'x@td2.test', 'x@mail']) assert.equal(isInsideLab(a, 's01.td1.test'), false, a);
    assert.equal(isInsideLab('"x@gmail.com>, y"@s01.td1.test', 's01.td1.test'), true);
    assert.equal(isInsideLab('"x@s01.td1.test"@gmail.com', 's01.td1.test'), false);
  });

  it('takes the account from the unquoted local part, without its extension', () => {
    assert.equal(accountOf('Util1+x@s01.td1.test'), 'util1');
    assert.equal(accountOf('"util1+x>, orig_to=<util11"@s01.td1.test'), 'util1');
    assert.equal(accountOf('"util11"'), 'util11');
    assert.equal(accountOf('a@b@c'), '');
  });
});

describe('isSpoofedSender', () => {
  it('is true for a real outside domain', () => {
    for (const a of ['president@u-picardie.fr', 'x@gmail.com', 'X@Mail.Example-Site.ORG']) {
      assert.equal(isSpoofedSender(a, 's01.td1.test'), true, a);
    }
  });

  it('is false for typos, lab addresses and reserved names', () => {
    for (const a of [
      '',
      'president',
      'util1@mail',
      'util1@s01.td1.test',
      'util2@s02.td1.test',
      'util1@mail.s01.td1.test',
      'x@localhost',
      'x@other.test',
      'x@a.invalid',
      'x@host.localhost',
      'x@www.example',
      'x@printer.local',
      'x@[10.0.0.1]',
      'x@10.0.0.1',
      'x@under_score.com',
      'x@gmail.c',
      // Quoted local parts: the domain is what follows the quotes.
      '"boss@gmail.com>, size=1, nrcpt=1 x"@s01.td1.test',
      '"boss@gmail.com"@s01.td1.test',
      '"boss@gmail.com"',
      '"boss@gmail.com',
    ]) {
      assert.equal(isSpoofedSender(a, 's01.td1.test'), false, a);
    }
    assert.equal(isSpoofedSender('"le president"@u-picardie.fr', 's01.td1.test'), true);
  });
});

describe('smtp-simple', () => {
  it('credits a message received over SMTP and delivered to an account', () => {
    const result = check('smtp-simple', input(smtpSession('6027918029D', 'president@u-picardie.fr', ['util1'])));
    assert.equal(result.done, true);
    assert.match(result.evidence ?? '', /6027918029D.*util1@s01\.td1\.test/);
    assert.match(result.at ?? '', /^2026-11-26T09:/);
  });

  it('does not credit a bounce notice generated by the server', () => {
    const lines = log(
      'postfix/qmgr[161]: 7A7A7A7A7A: from=<>, size=2000, nrcpt=1 (queue active)',
      'postfix/local[168]: 7A7A7A7A7A: to=<util1@s01.td1.test>, relay=local, delay=0.02, delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to mailbox)',
    );
    assert.deepEqual(check('smtp-simple', input(lines)), { id: 'smtp-simple', done: false, at: null, evidence: null });
  });

  it('does not believe lines a student wrote with logger (wrong uid), nor mail.log lines', () => {
    const forged = smtpSession('8D7C6B5A4F', 'president@u-picardie.fr', ['util1']).map((l) =>
      l.replace(/uid=\d+/, 'uid=2001'),
    );
    assert.equal(check('smtp-simple', input(forged)).done, false);
    const mailLog = smtpSession('8D7C6B5A4F', 'president@u-picardie.fr', ['util1']).map((l) =>
      l.replace(/^\S+ uid=\d+ pid=\d+ /, 'Nov 26 09:52:41 '),
    );
    assert.equal(check('smtp-simple', input(mailLog)).done, false);
    assert.equal(check('smtp-simple', input(smtpSession('8D7C6B5A4F', 'a@b', ['util1']))).done, true);
  });

  it('does not count the archive copy delivered by virtual', () => {
    const lines = log(
      `postfix/smtpd[163]: AAAA1: client=${CLIENT}`,
      'postfix/qmgr[161]: AAAA1: from=<a@b>, size=190, nrcpt=1 (queue active)',
      `postfix/virtual[169]: AAAA1: to=<${ARCHIVE}>, relay=virtual, delay=0.03, delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)`,
    );
    assert.equal(check('smtp-simple', input(lines)).done, false);
  });
});

describe('smtp-subject', () => {
  it('credits an archived message with a Subject, tied to its SMTP transaction', async () => {
    const result = check(
      'smtp-subject',
      input(smtpSession('AB12', 'a@b', ['util1']), [await received('AB12', 'Subject: Bonjour\n\ncorps\n')]),
    );
    assert.equal(result.done, true);
    assert.match(result.evidence ?? '', /AB12 \(util1\).*Subject: Bonjour/);
  });

  it('does not credit a message without a Subject, or with a blank one', async () => {
    const messages = [await received('AB12', 'From: a@b\n\ncorps\n'), await received('AB13', 'Subject:   \n\ncorps\n')];
    const lines = [...smtpSession('AB12', 'a@b', ['util1']), ...smtpSession('AB13', 'a@b', ['util1'])];
    assert.equal(check('smtp-subject', input(lines, messages)).done, false);
  });

  it('does not credit an archived message without a trusted client= line for its queue id', async () => {
    const message = await received('AB12', 'Subject: Bonjour\n\ncorps\n');
    const withoutClient = smtpSession('AB12', 'a@b', ['util1']).filter((l) => !l.includes('client='));
    assert.equal(check('smtp-subject', input(withoutClient, [message])).done, false);
    const forgedClient = smtpSession('AB12', 'a@b', ['util1']).map((l) =>
      l.includes('client=') ? l.replace('uid=101', 'uid=2001') : l,
    );
    assert.equal(check('smtp-subject', input(forgedClient, [message])).done, false);
    assert.equal(check('smtp-subject', input([], [message])).done, false);
    assert.equal(check('smtp-subject', input(smtpSession('AB12', 'a@b', ['util1']), [message])).done, true);
  });

  it('does not credit a message sent with sendmail (top Received by pickup), even with an SMTP line below', async () => {
    const local = await parseMessage(
      [
        'Return-Path: <util1@s01.td1.test>',
        `Delivered-To: ${ARCHIVE}`,
        'Received: by mail.s01.td1.test (Postfix, from userid 2001)\r\n\tid CD34; Thu, 26 Nov 2026 09:52:41 +0000 (UTC)',
        'Received: from pv (unknown [10.213.1.1]) by mail.s01.td1.test (Postfix) with SMTP id AB12',
        'Subject: Bonjour',
        '',
        'corps',
        '',
      ].join('\r\n'),
    );
    assert.equal(local.queueId, undefined);
    const lines = [...smtpSession('AB12', 'a@b', ['util1']), ...smtpSession('CD34', 'a@b', ['util1'])];
    assert.equal(check('smtp-subject', input(lines, [local])).done, false);
  });

  it('ties a message and its log lines in either order', async () => {
    const message = await received('AB12', 'Subject: Bonjour\n\ncorps\n');
    const events = input(smtpSession('AB12', 'a@b', ['util1'])).events;
    for (const messageFirst of [true, false]) {
      const v = new Verifier({ cardDomain: 's01.td1.test' });
      if (messageFirst) v.addMessage(message);
      for (const e of events) v.addEvent(e);
      if (!messageFirst) v.addMessage(message);
      assert.ok(v.peek('smtp-subject'), `message first: ${messageFirst}`);
      assert.equal(v.stats().pendingMessages, 0);
    }
  });
});

describe('smtp-two-recipients', () => {
  it('credits one transaction delivered to two accounts', () => {
    const result = check(
      'smtp-two-recipients',
      input(smtpSession('6027918029D', 'util1@s01.td1.test', ['util1', 'util11'])),
    );
    assert.equal(result.done, true);
    assert.match(result.evidence ?? '', /6027918029D.*util1, util11/);
  });

  it('does not count the mailbox and Maildir lines of one account twice', () => {
    assert.equal(check('smtp-two-recipients', input(smtpSession('6027918029D', 'a@b', ['util1']))).done, false);
  });

  it('does not credit two transactions of one recipient each', () => {
    const lines = [...smtpSession('AAAA1', 'a@b', ['util1']), ...smtpSession('AAAA2', 'a@b', ['util11'])];
    assert.equal(check('smtp-two-recipients', input(lines)).done, false);
  });

  it('does not credit a .forward that fans one recipient out to two accounts', () => {
    const lines = log(
      `postfix/smtpd[163]: FWD1: client=${CLIENT}`,
      'postfix/qmgr[161]: FWD1: from=<a@b>, size=190, nrcpt=2 (queue active)',
      localLine('FWD1', 'util1@s01.td1.test', 'util1', 'delivered to mailbox'),
      localLine('FWD1', 'util1@s01.td1.test', 'util1', 'delivered to maildir'),
      localLine('FWD1', 'util11@s01.td1.test', 'util1', 'delivered to mailbox'),
      localLine('FWD1', 'util11@s01.td1.test', 'util1', 'delivered to maildir'),
    );
    assert.equal(check('smtp-two-recipients', input(lines)).done, false);
  });

  it('does not count two extensions of one account, nor a bounce to two accounts', () => {
    const lines = log(
      `postfix/smtpd[163]: EXT1: client=${CLIENT}`,
      localLine('EXT1', 'util1@s01.td1.test', 'util1+a@s01.td1.test', 'delivered to mailbox'),
      localLine('EXT1', 'util1@s01.td1.test', 'UTIL1+b', 'delivered to mailbox'),
      'postfix/qmgr[161]: BNC1: from=<>, size=190, nrcpt=2 (queue active)',
      localLine('BNC1', 'util1@s01.td1.test', 'util1', 'delivered to mailbox'),
      localLine('BNC1', 'util11@s01.td1.test', 'util11', 'delivered to mailbox'),
    );
    assert.equal(check('smtp-two-recipients', input(lines)).done, false);
    assert.equal(
      check('smtp-two-recipients', input(smtpSession('TWO1', 'a@b', ['util1', 'util11']))).done,
      true,
      'the real case',
    );
  });
});

describe('smtp-attachment', () => {
  const session = () => smtpSession('AB12', 'util1@s01.td1.test', ['util11']);

  it("credits the TD's multipart message with a text attachment", async () => {
    const result = check('smtp-attachment', input(session(), [await received('AB12', TD_MULTIPART)]));
    assert.equal(result.done, true);
    assert.match(result.evidence ?? '', /notes\.txt.*boundary "------------0000000000"/);
  });

  it('does not credit a multipart message without an attachment part', async () => {
    const message = TD_MULTIPART.replace('Content-Disposition: attachment; filename="notes.txt"\n', '').replace(
      '; name="notes.txt"',
      '',
    );
    assert.equal(check('smtp-attachment', input(session(), [await received('AB12', message)])).done, false);
  });

  it('does not credit a multipart message whose only extra part is inline', async () => {
    const message = TD_MULTIPART.replace('Content-Disposition: attachment;', 'Content-Disposition: inline;').replace(
      'text/plain; name=',
      'application/octet-stream; name=',
    );
    assert.equal(check('smtp-attachment', input(session(), [await received('AB12', message)])).done, false);
  });

  it('does not credit an attachment outside a multipart message', async () => {
    const message = 'Subject: x\nContent-Disposition: attachment; filename="notes.txt"\n\ncontenu\n';
    assert.equal(check('smtp-attachment', input(session(), [await received('AB12', message)])).done, false);
  });
});

describe('smtp-attachment-base64', () => {
  const session = () => smtpSession('AB12', 'a@b', ['util1']);

  it('credits a JPEG that decodes from base64', async () => {
    const result = check(
      'smtp-attachment-base64',
      input(session(), [await received('AB12', withJpeg(JPEG.toString('base64')))]),
    );
    assert.equal(result.done, true);
    assert.match(result.evidence ?? '', /photo\.jpg \(image\/jpeg\), 22 octets/);
  });

  it('does not credit base64 with stray characters, nor a 7bit text attachment', async () => {
    const b64 = JPEG.toString('base64');
    const corrupt = await received('AB12', withJpeg(`${b64.slice(0, 8)}!!${b64.slice(8)}`));
    const text = await received('AB13', TD_MULTIPART);
    const lines = [...session(), ...smtpSession('AB13', 'a@b', ['util1'])];
    assert.equal(check('smtp-attachment-base64', input(lines, [corrupt, text])).done, false);
  });
});

describe('smtp-headers-from-to', () => {
  it('credits From: and To: typed by the student', async () => {
    const message = await received(
      'AB12',
      'From: president@u-picardie.fr\nTo: util1@s01.td1.test\nSubject: x\n\ncorps\n',
    );
    const result = check(
      'smtp-headers-from-to',
      input(smtpSession('AB12', 'president@u-picardie.fr', ['util1']), [message]),
    );
    assert.equal(result.done, true);
    assert.match(result.evidence ?? '', /From: president@u-picardie\.fr et To: util1@s01\.td1\.test/);
  });

  it('credits a From: equal to MAIL FROM at the end when the log shows no header was added', async () => {
    const message = await received('AB12', 'To: util1@s01.td1.test\nFrom: president@u-picardie.fr\n\ncorps\n');
    const result = check(
      'smtp-headers-from-to',
      input(smtpSession('AB12', 'president@u-picardie.fr', ['util1']), [message]),
    );
    assert.equal(result.done, true);
  });

  it('does not credit the From: and To: that Postfix adds for a local client', async () => {
    const added =
      'Message-Id: <20261126095241.AB12@mail.s01.td1.test>\nDate: Thu, 26 Nov 2026 09:52:41 +0000\nFrom: util11@s01.td1.test\nTo: undisclosed-recipients:;\n';
    const onlyTo = await received(
      'AB12',
      `Subject: x\nTo: util1@s01.td1.test\n${added.replace('To: undisclosed-recipients:;\n', '')}\ncorps\n`,
      'util11@s01.td1.test',
    );
    const onlyFrom = await received(
      'AB13',
      `From: util11@s01.td1.test\nSubject: y\n${added.replace('From: util11@s01.td1.test\n', '')}\ncorps\n`,
      'util11@s01.td1.test',
    );
    const lines = [
      ...smtpSession('AB12', 'util11@s01.td1.test', ['util1'], '20261126095241.AB12@mail.s01.td1.test'),
      ...smtpSession('AB13', 'util11@s01.td1.test', ['util1'], '20261126095241.AB13@mail.s01.td1.test'),
    ];
    assert.equal(check('smtp-headers-from-to', input(lines, [onlyTo, onlyFrom])).done, false);
  });
});

describe('smtp-spoofed-sender', () => {
  it('credits an envelope sender at a real outside domain', () => {
    const result = check('smtp-spoofed-sender', input(smtpSession('AB12', 'president@u-picardie.fr', ['util1'])));
    assert.equal(result.done, true);
    assert.match(result.evidence ?? '', /expéditeur d'enveloppe president@u-picardie\.fr/);
  });

  it('does not credit a From: header outside the lab behind a lab envelope', async () => {
    const message = await received(
      'AB12',
      'From: Le President <president@u-picardie.fr>\n\ncorps\n',
      'util1@s01.td1.test',
    );
    const lines = smtpSession('AB12', 'util1@s01.td1.test', ['util1']);
    assert.equal(check('smtp-spoofed-sender', input(lines, [message])).done, false);
  });

  it('does not credit typos, lab senders, bounces or mail that did not come over SMTP', () => {
    const lines = [
      ...smtpSession('AB11', 'util1@mail', ['util11']),
      ...smtpSession('AB12', 'president', ['util11']),
      ...smtpSession('AB13', 'util2@mail.s02.td1.test', ['util11']),
      ...smtpSession('AB14', 'x@other.test', ['util11']),
      ...log('postfix/qmgr[161]: CC99: from=<>, size=2000, nrcpt=1 (queue active)'),
      // pickup (sendmail): no client= line for the queue id.
      ...log('postfix/qmgr[161]: DD99: from=<president@u-picardie.fr>, size=2000, nrcpt=1 (queue active)'),
    ];
    assert.equal(check('smtp-spoofed-sender', input(lines)).done, false);
    const real = [...lines, ...smtpSession('AB15', 'president@u-picardie.fr', ['util11'])];
    assert.equal(check('smtp-spoofed-sender', input(real)).done, true);
  });

  it("does not credit a sender quoted to look like the qmgr line's fields, then credits a real spoof", () => {
    // The forged sender, as a Postfix that takes it would log it.
    const forged = smtpSession('AB16', '"boss@gmail.com>, size=1, nrcpt=1 x"@s01.td1.test', ['util11']);
    assert.equal(check('smtp-spoofed-sender', input(forged)).done, false);
    const real = [...forged, ...smtpSession('AB17', 'president@u-picardie.fr', ['util11'])];
    const result = check('smtp-spoofed-sender', input(real));
    assert.equal(result.done, true);
    assert.match(result.evidence ?? '', /AB17/);
  });
});

describe('smtp-external', () => {
  const bounce = (queueId: string) =>
    `postfix/error[170]: ${queueId}: to=<x@gmail.com>, relay=none, delay=0.1, delays=0.1/0/0/0, dsn=5.7.1, status=bounced (labctl: mail to other domains stays in the lab (envoi hors du lab bloque))`;

  it('credits a message to another domain bounced by the error transport', () => {
    const lines = log(
      `postfix/smtpd[163]: ABC123: client=${CLIENT}`,
      'postfix/qmgr[161]: ABC123: from=<util1@s01.td1.test>, size=190, nrcpt=2 (queue active)',
      bounce('ABC123'),
    );
    const result = check('smtp-external', input(lines));
    assert.equal(result.done, true);
    assert.match(result.evidence ?? '', /ABC123 vers x@gmail\.com : status=bounced \(labctl: mail to other domains/);
  });

  it('credits a refused recipient in another domain', () => {
    const result = check(
      'smtp-external',
      input(
        log(
          `postfix/smtpd[163]: NOQUEUE: reject: RCPT from ${CLIENT}: 554 5.7.1 <x@gmail.com>: Relay access denied; from=<a@b> to=<x@gmail.com> proto=SMTP helo=<pv>`,
        ),
      ),
    );
    assert.equal(result.done, true);
    assert.match(result.evidence ?? '', /RCPT vers x@gmail\.com refusé : 554/);
  });

  it('does not credit a to=<..> injected through the HELO name', () => {
    const injected = log(
      `postfix/smtpd[163]: NOQUEUE: reject: RCPT from ${CLIENT}: 550 5.1.1 <nobody@s01.td1.test>: Recipient address rejected: User unknown in local recipient table; from=<a@b> to=<nobody@s01.td1.test> proto=SMTP helo=<pv> to=<x@gmail.com>`,
      `postfix/smtpd[163]: NOQUEUE: reject: RCPT from ${CLIENT}: 550 5.1.1 <nobody@s01.td1.test>: Recipient address rejected: User unknown in local recipient table; from=<a@b> to=<nobody@s01.td1.test> proto=SMTP helo=<x; from=<a@b> to=<x@gmail.com> proto=SMTP helo=<pv>`,
    );
    assert.equal(check('smtp-external', input(injected)).done, false);
  });

  it('does not credit lab recipients, the archive copy, nor the bounce notice sent back to a forged sender', () => {
    const lines = [
      ...smtpSession('AB12', 'a@b', ['util1']),
      ...log(
        `postfix/smtpd[163]: NOQUEUE: reject: RCPT from ${CLIENT}: 550 5.1.1 <nobody@s01.td1.test>: Recipient address rejected: User unknown in local recipient table; from=<a@b> to=<nobody@s01.td1.test> proto=SMTP helo=<pv>`,
        'postfix/qmgr[161]: DD11: from=<>, size=2000, nrcpt=1 (queue active)',
        'postfix/error[170]: DD11: to=<president@u-picardie.fr>, relay=none, delay=0.1, delays=0/0/0/0, dsn=5.7.1, status=bounced (labctl: mail to other domains stays in the lab (envoi hors du lab bloque))',
      ),
    ];
    assert.equal(check('smtp-external', input(lines)).done, false);
  });
});

describe('POP3 and IMAP', () => {
  const ip = 'ip=[::ffff:10.213.1.1]';

  it('credits successful logins, not failed ones', () => {
    const failed = input(
      log(
        `pop3d: LOGIN FAILED, user=util1, ${ip}`,
        `imapd: LOGIN FAILED, user=util1, ${ip}`,
        `imapd: LOGIN, FAILED, user=util1, ${ip}`,
      ),
    );
    assert.equal(check('pop-login', failed).done, false);
    assert.equal(check('imap-login', failed).done, false);
    const ok = input(
      log(
        `pop3d: LOGIN, user=util1, ${ip}, port=[49050]`,
        `imapd: LOGIN, user=util11, ${ip}, port=[49046], protocol=IMAP`,
      ),
    );
    assert.match(check('pop-login', ok).evidence ?? '', /util1 connecté en POP3/);
    assert.match(check('imap-login', ok).evidence ?? '', /util11 connecté en IMAP/);
  });

  it('does not believe a Courier line logged by a student', () => {
    const forged = log(`pop3d: LOGIN, user=util1, ${ip}, port=[49050]`).map((l) => l.replace('uid=0', 'uid=2001'));
    assert.equal(check('pop-login', input(forged)).done, false);
  });

  it('credits RETR only when bytes were retrieved', () => {
    const listOnly = input(
      log(`pop3d: LOGOUT, user=util1, ${ip}, port=[49050], top=0, retr=0, rcvd=40, sent=200, time=3`),
    );
    assert.equal(check('pop-retr', listOnly).done, false);
    const retr = input(
      log(`pop3d: LOGOUT, user=util1, ${ip}, port=[49050], top=0, retr=312, rcvd=40, sent=500, time=3`),
    );
    assert.match(check('pop-retr', retr).evidence ?? '', /util1 .*retr=312/);
  });

  it('credits FETCH only when body bytes were sent', () => {
    const headersOnly = input(log(`imapd: LOGOUT, user=util1, ${ip}, headers=500, body=0, rcvd=60, sent=900, time=5`));
    assert.equal(check('imap-fetch', headersOnly).done, false);
    const fetched = input(log(`imapd: LOGOUT, user=util1, ${ip}, headers=0, body=120, rcvd=60, sent=900, time=5`));
    assert.match(check('imap-fetch', fetched).evidence ?? '', /util1 .*body=120/);
  });
});

describe('evaluate', () => {
  it('has a check for every exercise of the default lab, and no other', async () => {
    const lab = parseYaml(await readFile(new URL('../../../labs/smtp-pop-imap.yaml', import.meta.url), 'utf8')) as {
      exercises: { id: string }[];
    };
    assert.deepEqual([...EXERCISE_IDS].sort(), lab.exercises.map((e) => e.id).sort());
  });

  it('answers every requested id in order, unknown ids as not done', () => {
    const results = evaluate(input(smtpSession('AB12', 'a@b', ['util1'])), [
      'pop-login',
      'smtp-simple',
      'no-such-exercise',
    ]);
    assert.deepEqual(
      results.map((r) => [r.id, r.done]),
      [
        ['pop-login', false],
        ['smtp-simple', true],
        ['no-such-exercise', false],
      ],
    );
    assert.deepEqual(results[2], { id: 'no-such-exercise', done: false, at: null, evidence: null });
  });

  it('reports the earliest evidence, whatever the order of the archive', async () => {
    const lines = [...smtpSession('FIRST1', 'a@b', ['util1']), ...smtpSession('LATER2', 'a@b', ['util1'])];
    const messages = [await received('LATER2', 'Subject: deux\n\nb\n'), await received('FIRST1', 'Subject: un\n\na\n')];
    const [result] = evaluate(input(lines, messages), ['smtp-subject']);
    assert.match(result?.evidence ?? '', /FIRST1.*Subject: un/);
    assert.equal(result?.at, input(lines).events.find((e) => e.type === 'delivery' && e.transport === 'local')?.time);
  });
});
