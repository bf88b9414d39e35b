import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ClassInfo } from '../../src/core/class-model.js';
import { labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { cleanClass } from '../helpers/docker.js';
import { freeBasePort } from '../helpers/ports.js';
import { Session, SMTP_FINAL } from '../helpers/session.js';
import { sshRun } from '../helpers/ssh.js';
import {
  classBoard,
  doneIds,
  imapSession,
  MULTIPART_BODY,
  popSession,
  smtpSession,
  sidecarSettled,
  waitForCredits,
} from '../helpers/td.js';

/**
 * The student who wants the credit without the work: util1 over ssh on their own server, with `logger`, their
 * own home and a copy of real log lines. Each forgery earns nothing; the real session right after it does.
 */
const CLASS = `tr${process.pid}`;
const PASSWORD = 'master2021';
let info: ClassInfo;
const port = (service: string) => info.students[0]!.ports[service]!;
const domain = () => info.students[0]!.domain;
const asUtil1 = async (command: string) => {
  const r = await sshRun(port('ssh'), 'util1', PASSWORD, command);
  assert.equal(r.code, 0, `${command}\n${r.stdout}${r.stderr}`);
  return r.stdout;
};
const done = async () => doneIds(await classBoard(CLASS), 1);
/** Until the sidecar has read everything written so far: what it believes would have shown up by then. */
const settle = () => sidecarSettled(port('web'));

/** Tweaked copies of the real lines the TD's sessions write to mail.log, sent with `logger` as util1. */
function forgedLines(): string[] {
  const d = domain();
  const id = '8D7C6B5A4F';
  const line = (tag: string, text: string) => `logger -p mail.info -t ${tag} --id=171 '${text}'`;
  return [
    line('postfix/smtpd', `connect from unknown[10.213.1.1]`),
    line('postfix/smtpd', `${id}: client=unknown[10.213.1.1]`),
    line('postfix/cleanup', `${id}: message-id=<>`),
    line('postfix/qmgr', `${id}: from=<president@u-picardie.fr>, size=300, nrcpt=2 (queue active)`),
    ...['util1', 'util11'].map((u) =>
      line(
        'postfix/local',
        `${id}: to=<${u}@${d}>, orig_to=<${u}>, relay=local, delay=0.02, delays=0.01/0.01/0/0, dsn=2.0.0, status=sent (delivered to mailbox)`,
      ),
    ),
    line(
      'postfix/smtpd',
      `NOQUEUE: reject: RCPT from unknown[10.213.1.1]: 550 5.7.1 <x@gmail.com>: Recipient address rejected: labctl; from=<util1@${d}> to=<x@gmail.com> proto=SMTP helo=<pv>`,
    ),
    line('pop3d', 'LOGIN, user=util1, ip=[::ffff:192.168.192.1], port=[40112]'),
    line(
      'pop3d',
      'LOGOUT, user=util1, ip=[::ffff:192.168.192.1], port=[40112], top=0, retr=1234, rcvd=40, sent=1300, time=2',
    ),
    line('imapd', 'LOGIN, user=util1, ip=[::ffff:192.168.192.1], port=[40114], protocol=IMAP'),
    line('imapd', 'LOGOUT, user=util1, ip=[::ffff:192.168.192.1], headers=0, body=1234, rcvd=60, sent=1400, time=2'),
  ];
}

/** A message such as Postfix would have delivered, written straight into util1's own Maildir. */
function forgedMessage(): string {
  return [
    'Return-Path: <president@u-picardie.fr>',
    'Received: from pv (unknown [10.213.1.1])',
    `\tby mail.${domain()} (Postfix) with SMTP id 8D7C6B5A4F;`,
    '\tThu, 26 Nov 2026 09:52:41 +0000 (UTC)',
    `From: util1@${domain()}`,
    `To: util11@${domain()}`,
    ...MULTIPART_BODY,
  ].join('\n');
}

describe('credit that a student cannot forge', { timeout: 300_000 }, () => {
  before(async () => {
    await cleanClass(CLASS);
    const up = await labctl(upArgs(CLASS, 1, await freeBasePort(1)));
    assert.equal(up.code, 0, up.stderr);
    info = await labctlJson<ClassInfo>(['info', '--class', CLASS]);
  });
  after(() => cleanClass(CLASS));

  it('forged log lines and a message written into their own Maildir earn nothing', async () => {
    await asUtil1(forgedLines().join(' && '));
    // The forged lines are in the log the TD has students read...
    assert.match(await asUtil1('grep -c 8D7C6B5A4F /var/log/mail.log'), /^[1-9]/);
    // ...but the verification log and the archive are not theirs to read.
    assert.match(
      (await sshRun(port('ssh'), 'util1', PASSWORD, 'cat /var/lib/labctl/evidence/log/verify.log 2>&1')).stdout,
      /Permission denied/,
    );
    // An SMTP session of their own making: `sendmail -bs` runs smtpd as util1, so its lines are not the daemon's.
    await asUtil1(
      `printf 'MAIL FROM:<president@u-picardie.fr>\\r\\nRCPT TO:<util1>\\r\\nRCPT TO:<util11>\\r\\nDATA\\r\\nSubject: x\\r\\n\\r\\nx\\r\\n.\\r\\nQUIT\\r\\n' | /usr/sbin/sendmail -bs`,
    );
    await asUtil1(`cat > ~/Maildir/new/1795000000.V1.forged <<'EOF'\n${forgedMessage()}\nEOF`);
    await asUtil1(`cp ~/Maildir/new/1795000000.V1.forged ~util1/Maildir/cur/1795000001.V2.forged:2,S`);
    await settle();
    assert.deepEqual(await done(), []);
  });

  it('a ~/.forward that fans one recipient out to two accounts is not two recipients, and util1@mail is no spoof', async () => {
    await asUtil1(`printf 'util1, util11, /home/util1/Maildir/\\n' > ~/.forward`);
    await smtpSession(port('smtp'), 'util1@mail', ['util1'], ['Subject: un seul destinataire', '', 'corps', '']);
    await waitForCredits(CLASS, 1, ['smtp-simple', 'smtp-subject']);
    await settle();
    assert.deepEqual(await done(), ['smtp-simple', 'smtp-subject']);
  });

  it('the real sessions right after earn every exercise', async () => {
    await smtpSession(port('smtp'), 'president@u-picardie.fr', ['util1', 'util11'], ['Subject: test', '', 'test', '']);
    await smtpSession(
      port('smtp'),
      'util1',
      ['util11'],
      [`From: util1@${domain()}`, `To: util11@${domain()}`, ...MULTIPART_BODY],
    );
    await smtpSession(port('smtp'), 'util1', ['x@gmail.com'], []);
    await popSession(port('pop3'), 'util11', PASSWORD, true);
    await imapSession(port('imap'), 'util11', PASSWORD, true);
    const board = await waitForCredits(CLASS, 1, [
      'smtp-two-recipients',
      'smtp-spoofed-sender',
      'smtp-attachment',
      'smtp-attachment-base64',
      'smtp-headers-from-to',
      'smtp-external',
      'pop-login',
      'pop-retr',
      'imap-login',
      'imap-fetch',
    ]);
    const evidence = (id: string) => board.students[0]!.exercises.find((e) => e.id === id)!.evidence ?? '';
    assert.match(evidence('smtp-spoofed-sender'), /president@u-picardie\.fr/);
    assert.match(evidence('smtp-two-recipients'), /util1.*util11|util11.*util1/);
    assert.match(evidence('pop-login'), /util11/);
  });

  it('after a progress reset, touching old messages and replaying old lines earn nothing; a new session does', async () => {
    const reset = await labctl([
      'reset',
      '--class',
      CLASS,
      '--student',
      '1',
      '--user',
      'util11',
      '--progress',
      '--yes',
    ]);
    assert.equal(reset.code, 0, reset.stderr);
    assert.deepEqual(await done(), []);
    await asUtil1('touch ~/Maildir/new/* ~/Maildir/cur/* 2>/dev/null; true');
    await asUtil1(forgedLines().join(' && '));
    await settle();
    assert.deepEqual(await done(), []);
    await popSession(port('pop3'), 'util1', PASSWORD, false);
    await waitForCredits(CLASS, 1, ['pop-login']);
    assert.deepEqual(await done(), ['pop-login']);
  });

  it("a sender quoted to look like the qmgr line's own fields is read whole: a spoof only at an outside domain", async () => {
    const spoofEvidence = async () =>
      (await waitForCredits(CLASS, 1, ['smtp-spoofed-sender'])).students[0]!.exercises.find(
        (e) => e.id === 'smtp-spoofed-sender',
      )!.evidence ?? '';
    // The form (an "@" and a ">" in the quotes) Postfix itself refuses.
    const s = await Session.open(port('smtp'));
    await s.read(SMTP_FINAL);
    await s.say('helo pv', SMTP_FINAL);
    assert.match(await s.say(`mail from:<"boss@gmail.com\\>, size=1, nrcpt=1 x"@${domain()}>`, SMTP_FINAL), /^501 /);
    s.close();
    // A ">, " in the quotes it takes, and logs bare: from=<"boss>, size=1, nrcpt=1 x"@s01…>, size=…, nrcpt=….
    const forged = `<"boss\\>, size=1, nrcpt=1 x"@${domain()}>`;
    await smtpSession(port('smtp'), forged, ['util1'], ['', 'x']);
    await smtpSession(port('smtp'), '<"le.president\\>, size=1"@u-picardie.fr>', ['util1'], ['', 'x']);
    // Credits are taken in the log's order: the first sender believed to be outside is the evidence.
    assert.match(await spoofEvidence(), /expéditeur d'enveloppe "le\.president>, size=1"@u-picardie\.fr /);
    // And after a reset, the forged sender again, then the TD's own spoof.
    const reset = await labctl(['reset', '--class', CLASS, '--student', '1', '--user', 'util1', '--progress', '--yes']);
    assert.equal(reset.code, 0, reset.stderr);
    await smtpSession(port('smtp'), forged, ['util1'], ['', 'x']);
    await smtpSession(port('smtp'), 'president@u-picardie.fr', ['util1'], ['', 'x']);
    assert.match(await spoofEvidence(), /expéditeur d'enveloppe president@u-picardie\.fr /);
  });
});
