import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { EXERCISE_IDS, HINT_LIMIT, hintsFor, Verifier } from '../../src/sidecar/checks.js';
import { parseMessage, type MessageFacts } from '../../src/sidecar/message.js';
import { parseVerifyLog } from '../../src/sidecar/parse-log.js';
import { renderPage } from '../../src/sidecar/page.js';
import { Sidecar } from '../../src/sidecar/sidecar.js';
import { makeConfig } from '../helpers/sidecar-config.js';

const CLIENT = 'unknown[10.213.1.1]';
const ARCHIVE = 'archive@archive.labctl.invalid';
const IP = 'ip=[::ffff:10.213.1.1]';
const ALL = [...EXERCISE_IDS];

let clock = 0;
/** Trusted verification-log lines, one second apart: Postfix as uid 101, local(8) and Courier as uid 0. */
function log(...lines: string[]): string[] {
  return lines.map((line) => {
    const uid = /^(postfix\/local|pop3d|imapd)/.test(line) ? 0 : 101;
    const s = clock++;
    const time = `2026-11-26T09:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}.000001+00:00`;
    return `${time} uid=${uid} pid=300 mail ${line}`;
  });
}

/** One SMTP transaction from `from`, delivered to `accounts` (original recipients `orig`, default the same). */
function smtp(queueId: string, from: string, accounts: string[], orig = accounts): string[] {
  return log(
    `postfix/smtpd[163]: connect from ${CLIENT}`,
    `postfix/smtpd[163]: ${queueId}: client=${CLIENT}`,
    `postfix/cleanup[166]: ${queueId}: message-id=<>`,
    `postfix/qmgr[161]: ${queueId}: from=<${from}>, size=190, nrcpt=${accounts.length + 1} (queue active)`,
    `postfix/virtual[169]: ${queueId}: to=<${ARCHIVE}>, relay=virtual, delay=0.03, delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)`,
    ...accounts.map(
      (a, i) =>
        `postfix/local[168]: ${queueId}: to=<${a}@s01.td1.test>, orig_to=<${orig[i]}>, relay=local, delay=0.02, delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to mailbox)`,
    ),
    `postfix/smtpd[163]: disconnect from ${CLIENT} helo=1 mail=1 rcpt=${accounts.length} data=1 quit=1 commands=${4 + accounts.length}`,
  );
}

/** The archive copy of a message our smtpd received as `queueId`. */
function archived(queueId: string, message: string, envelope = 'util1@s01.td1.test'): Promise<MessageFacts> {
  const top = [
    `Return-Path: <${envelope}>`,
    `Delivered-To: ${ARCHIVE}`,
    `Received: from pv (unknown [10.213.1.1])\r\n\tby mail.s01.td1.test (Postfix) with SMTP id ${queueId}\r\n\tfor <util1>; Thu, 26 Nov 2026 09:52:41 +0000 (UTC)`,
  ];
  return parseMessage(`${top.join('\r\n')}\r\n${message.replace(/\r?\n/g, '\r\n')}`);
}

const ACCOUNTS = Array.from({ length: 19 }, (_, i) => `util${i + 1}`);
const hints = (lines: string[], messages: MessageFacts[] = []) =>
  hintsFor(
    { events: parseVerifyLog(lines.join('\n')), messages, labDomains: ['s01.td1.test'], accounts: ACCOUNTS },
    ALL,
  );

const MULTIPART_NO_ATTACHMENT = `From: util1@s01.td1.test
To: util11@s01.td1.test
Subject: deux parties
Content-Type: multipart/mixed; boundary="XYZ"

--XYZ
Content-Type: text/plain

Bonjour.
--XYZ
Content-Type: text/plain

Encore du texte.
--XYZ--
`;

const MULTIPART_7BIT_ATTACHMENT = `From: util1@s01.td1.test
To: util11@s01.td1.test
Subject: fichier joint
Content-Type: multipart/mixed; boundary="XYZ"

--XYZ
Content-Type: text/plain

Voici le fichier.
--XYZ
Content-Type: text/plain; name="notes.txt"
Content-Transfer-Encoding: 7bit
Content-Disposition: attachment; filename="notes.txt"

contenu
--XYZ--
`;

const MULTIPART_BASE64 = MULTIPART_7BIT_ATTACHMENT.replace('7bit', 'base64').replace('contenu', 'Y29udGVudQo=');

describe('hints: near misses from the trusted log and the archive', () => {
  it('a multipart message with no part marked as an attachment', async () => {
    const h = hints(smtp('Q1', 'util1@s01.td1.test', ['util11']), [await archived('Q1', MULTIPART_NO_ATTACHMENT)]);
    assert.equal(h['smtp-attachment'], "votre message multi-parties Q1 n'a pas de partie marquée comme pièce jointe");
    // No attachment at all: nothing about base64 yet.
    assert.equal(h['smtp-attachment-base64'], undefined);
  });

  it('no attachment hint for a plain message, nor once the attachment is there', async () => {
    const plain = hints(smtp('Q2', 'util1@s01.td1.test', ['util11']), [
      await archived('Q2', 'From: a@s01.td1.test\nTo: util11@s01.td1.test\nSubject: s\n\ncorps\n'),
    ]);
    assert.equal(plain['smtp-attachment'], undefined);
    const right = hints(smtp('Q3', 'util1@s01.td1.test', ['util11']), [
      await archived('Q3', MULTIPART_7BIT_ATTACHMENT),
    ]);
    assert.equal(right['smtp-attachment'], undefined);
  });

  it('an attachment that is not clean base64, and none once it is', async () => {
    const h = hints(smtp('Q4', 'util1@s01.td1.test', ['util11']), [await archived('Q4', MULTIPART_7BIT_ATTACHMENT)]);
    assert.equal(
      h['smtp-attachment-base64'],
      "la pièce jointe « notes.txt » de votre message Q4 n'est pas du base64 qui se décode proprement",
    );
    const ok = hints(smtp('Q5', 'util1@s01.td1.test', ['util11']), [await archived('Q5', MULTIPART_BASE64)]);
    assert.equal(ok['smtp-attachment-base64'], undefined);
  });

  it('a message sent with no Subject, and none with one', async () => {
    const h = hints(smtp('Q6', 'util1@s01.td1.test', ['util11']), [
      await archived('Q6', 'From: util1@s01.td1.test\nTo: util11@s01.td1.test\n\ncorps\n'),
    ]);
    assert.equal(h['smtp-subject'], 'votre message Q6 est arrivé sans sujet');
    const ok = hints(smtp('Q7', 'util1@s01.td1.test', ['util11']), [
      await archived('Q7', 'Subject: Bonjour\n\ncorps\n'),
    ]);
    assert.equal(ok['smtp-subject'], undefined);
  });

  it('a message that reached one account where two were meant, and none for two', () => {
    assert.equal(
      hints(smtp('Q8', 'util1@s01.td1.test', ['util11']))['smtp-two-recipients'],
      "votre message Q8 n'est arrivé qu'à un seul compte (util11)",
    );
    // A ~/.forward fanning util1 out to util11 is still one account for Postfix's orig_to.
    assert.match(
      hints(smtp('Q9', 'util1@s01.td1.test', ['util1', 'util11'], ['util1', 'util1']))['smtp-two-recipients'] ?? '',
      /n'est arrivé qu'à un seul compte \(util1\)/,
    );
    assert.equal(hints(smtp('Q10', 'util1@s01.td1.test', ['util1', 'util11']))['smtp-two-recipients'], undefined);
  });

  it('From: and To: that the student did not write, and none when they did', async () => {
    const h = hints(smtp('Q11', 'util1@s01.td1.test', ['util11']), [await archived('Q11', 'Subject: s\n\ncorps\n')]);
    assert.match(h['smtp-headers-from-to'] ?? '', /^votre message Q11 n'a pas d'en-tête From: ni To: écrit par vous/);
    const ok = hints(smtp('Q12', 'util1@s01.td1.test', ['util11']), [
      await archived('Q12', 'From: Le Président <president@u-picardie.fr>\nTo: util11@s01.td1.test\n\ncorps\n'),
    ]);
    assert.equal(ok['smtp-headers-from-to'], undefined);
  });

  it('an envelope sender that tries to be outside but is not a real domain', () => {
    assert.equal(
      hints(smtp('Q13', 'util1@mail', ['util11']))['smtp-spoofed-sender'],
      "l'expéditeur d'enveloppe « util1@mail » de votre message Q13 n'est pas une adresse d'un vrai domaine extérieur",
    );
    assert.equal(hints(smtp('Q14', 'util1@s01.td1.test', ['util11']))['smtp-spoofed-sender'], undefined);
    assert.equal(hints(smtp('Q15', 'president@u-picardie.fr', ['util11']))['smtp-spoofed-sender'], undefined);
  });

  it('an SMTP session that ended without a message, but not a bare connect-and-quit (a probe)', () => {
    const refused = log(
      `postfix/smtpd[163]: connect from ${CLIENT}`,
      `postfix/smtpd[163]: NOQUEUE: reject: RCPT from ${CLIENT}: 550 5.1.1 <util99@s01.td1.test>: Recipient address rejected: User unknown in local recipient table; from=<a@s01.td1.test> to=<util99@s01.td1.test> proto=SMTP helo=<pv>`,
      `postfix/smtpd[163]: disconnect from ${CLIENT} helo=1 mail=1 rcpt=0/1 quit=1 commands=3/4`,
    );
    assert.equal(
      hints(refused)['smtp-simple'],
      "votre session SMTP s'est terminée sans message accepté (helo=1 mail=1 rcpt=0 quit=1)",
    );
    assert.match(
      hints(refused.slice(0, 2))['smtp-simple'] ?? '',
      /^le serveur a refusé le destinataire « util99@s01\.td1\.test » : 550 /,
    );
    const probe = log(
      `postfix/smtpd[163]: connect from ${CLIENT}`,
      `postfix/smtpd[163]: disconnect from ${CLIENT} quit=1 commands=1`,
    );
    assert.deepEqual(hints(probe), {});
    // Then a message that arrives: smtp-simple is done and its hint goes.
    assert.equal(hints([...refused, ...smtp('Q16', 'util1@s01.td1.test', ['util11'])])['smtp-simple'], undefined);
  });

  it('a POP or IMAP login that failed, and none once one succeeds', () => {
    const failed = log(`pop3d: LOGIN FAILED, user=util1, ${IP}`, `imapd: LOGIN FAILED, user=util11, ${IP}`);
    assert.equal(
      hints(failed)['pop-login'],
      'une connexion POP3 de « util1 » a échoué : identifiant ou mot de passe refusé',
    );
    assert.equal(
      hints(failed)['imap-login'],
      'une connexion IMAP de « util11 » a échoué : identifiant ou mot de passe refusé',
    );
    const then = [...failed, ...log(`pop3d: LOGIN, user=util1, ${IP}, port=[49050]`)];
    assert.equal(hints(then)['pop-login'], undefined);
    assert.ok(hints(then)['imap-login']);
  });

  it("quotes no name a classmate made up: a failed login's name reaches the page only when it is an account", () => {
    // From another PC of the room, to student 1's POP3 and IMAP ports: the "name" is a message for student 1.
    const phishing = 'Note_TD_annulée:_confirmez_votre_mot_de_passe_sur_http://u-picardie.example/td';
    const h = hints(log(`pop3d: LOGIN FAILED, user=${phishing}, ${IP}`, `imapd: LOGIN FAILED, user=UTIL1, ${IP}`));
    assert.equal(h['pop-login'], 'une connexion POP3 a échoué : identifiant inconnu sur ce serveur');
    assert.equal(h['imap-login'], 'une connexion IMAP a échoué : identifiant inconnu sur ce serveur');
    assert.ok(!JSON.stringify(h).includes('picardie'), JSON.stringify(h));
  });

  it('a POP3 or IMAP session that read nothing, but not one that never logged in', () => {
    const h = hints(
      log(
        `pop3d: LOGOUT, user=util1, ${IP}, port=[49050], top=0, retr=0, rcvd=40, sent=200, time=3`,
        `imapd: LOGOUT, user=util1, ${IP}, headers=500, body=0, rcvd=60, sent=900, time=5`,
      ),
    );
    assert.equal(h['pop-retr'], "votre session POP3 (util1) s'est terminée sans qu'aucun message soit lu");
    assert.equal(h['imap-fetch'], "votre session IMAP (util1) s'est terminée sans qu'aucun corps de message soit lu");
    assert.deepEqual(hints(log(`pop3d: LOGOUT, ${IP}, port=[49050], top=0, retr=0, rcvd=6, sent=30, time=0`)), {});
  });

  it('gives no hint when nothing happened, and keeps one short hint per exercise at most', async () => {
    assert.deepEqual(hints([]), {});
    const verifier = new Verifier({ cardDomain: 's01.td1.test' });
    const long = 'x'.repeat(5000);
    for (let i = 0; i < 500; i++) {
      for (const e of parseVerifyLog(
        log(`pop3d: LOGIN FAILED, user=${long}${i}, ${IP}`, ...smtp(`R${i}`, `u${i}@mail`, ['util1'])).join('\n'),
      ))
        verifier.addEvent(e);
      verifier.addMessage(await archived(`R${i}`, 'corps sans en-têtes\n'));
    }
    const held = verifier.hints();
    assert.ok(held.size <= EXERCISE_IDS.length, `${held.size} hints`);
    for (const text of held.values()) assert.ok(text.length <= HINT_LIMIT, text);
    assert.equal(held.get('pop-login'), 'une connexion POP3 a échoué : identifiant inconnu sur ce serveur');
  });
});

describe('hints in the sidecar', () => {
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  async function sidecarWith(
    lines: string[],
    exercises = ['smtp-simple', 'pop-login', 'pop-retr'],
    now = new Date('2026-11-26T10:00:00Z'),
  ) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-hints-'));
    dirs.push(dir);
    const config = makeConfig(dir, exercises);
    await mkdir(path.dirname(config.verifyLog), { recursive: true });
    await mkdir(path.join(config.archiveDir, 'new'), { recursive: true });
    await writeFile(config.verifyLog, lines.length ? `${lines.join('\n')}\n` : '');
    const sidecar = new Sidecar(config, { now: () => now });
    await sidecar.store.load();
    await sidecar.poll();
    return sidecar;
  }
  const hintOf = (s: Sidecar, id: string) => s.progress().exercises.find((e) => e.id === id)?.hint;

  it("puts the hint next to its exercise on the page, escaped: a file name is the student's text", async () => {
    const evil = MULTIPART_7BIT_ATTACHMENT.replace(/notes\.txt/g, '<img src=x onerror=alert(1)>.txt');
    const sidecar = await sidecarWith([], ['smtp-attachment', 'smtp-attachment-base64']);
    const verifier = new Verifier({ cardDomain: 's01.td1.test', exercises: ['smtp-attachment-base64'] });
    for (const e of parseVerifyLog(smtp('E1', 'util1@s01.td1.test', ['util11']).join('\n'))) verifier.addEvent(e);
    verifier.addMessage(await archived('E1', evil));
    const hint = verifier.hints().get('smtp-attachment-base64')!;
    assert.match(hint, /« <img src=x onerror=alert\(1\)>\.txt »/);
    const progress = sidecar.progress();
    progress.exercises[1]!.hint = hint;
    const html = renderPage(sidecar.config, progress, 'k');
    assert.ok(!html.includes('<img'), 'the file name reached the page as HTML');
    assert.match(
      html,
      /<li id="ex-smtp-attachment-base64" class="todo">[\s\S]*?<div class="hint">Indice : <span class="text">la pièce jointe « &lt;img src=x/,
    );
    assert.match(html, /<li id="ex-smtp-attachment" class="todo">[\s\S]*?<div class="hint" hidden>/);
  });

  it('a forged line from a student uid gives no hint; the same line from Courier does', async () => {
    const line = log(`pop3d: LOGIN FAILED, user=util1, ${IP}`)[0]!;
    const forged = await sidecarWith([line.replace('uid=0', 'uid=101001')]);
    assert.equal(hintOf(forged, 'pop-login'), undefined);
    const real = await sidecarWith([line]);
    assert.match(hintOf(real, 'pop-login') ?? '', /connexion POP3 de « util1 » a échoué/);
  });

  it('a message in the archive that no trusted log line ties to an SMTP transaction gives no hint', async () => {
    const sidecar = await sidecarWith([], ['smtp-subject', 'smtp-attachment']);
    const file = path.join(sidecar.config.archiveDir, 'new', '1764150761.V801I1M1.mail');
    await writeFile(
      file,
      `Received: from pv\n\tby mail.s01.td1.test (Postfix) with SMTP id ZZ1\n${MULTIPART_NO_ATTACHMENT.replace(/^Subject.*\n/m, '')}`,
    );
    await sidecar.poll();
    assert.equal(hintOf(sidecar, 'smtp-subject'), undefined);
    assert.equal(hintOf(sidecar, 'smtp-attachment'), undefined);
  });

  it('shows the hint of an exercise not done, drops it when done, and forgets hints at a progress reset', async () => {
    const sidecar = await sidecarWith(log(`pop3d: LOGIN FAILED, user=util1, ${IP}`));
    let changes = 0;
    sidecar.on('change', () => changes++);
    assert.ok(hintOf(sidecar, 'pop-login'));
    assert.equal(hintOf(sidecar, 'smtp-simple'), undefined);
    await writeFile(sidecar.config.verifyLog, `${log(`pop3d: LOGIN, user=util1, ${IP}, port=[1]`).join('\n')}\n`, {
      flag: 'a',
    });
    await sidecar.poll();
    const ex = sidecar.progress().exercises.find((e) => e.id === 'pop-login')!;
    assert.equal(ex.done, true);
    assert.equal(ex.hint, undefined);
    assert.ok(changes >= 1);
    await writeFile(
      sidecar.config.verifyLog,
      `${log(`pop3d: LOGOUT, user=util1, ${IP}, port=[1], top=0, retr=0, rcvd=1, sent=1, time=1`).join('\n')}\n`,
      { flag: 'a' },
    );
    const before = changes;
    await sidecar.poll();
    assert.ok(hintOf(sidecar, 'pop-retr'));
    assert.equal(changes, before + 1, 'a new hint is pushed to the open page');
    await sidecar.resetProgress();
    assert.equal(hintOf(sidecar, 'pop-retr'), undefined);
  });

  it('says when the student last made progress: the first start, then their latest credit', async () => {
    const sidecar = await sidecarWith([], undefined, new Date('2026-11-26T08:00:00Z'));
    assert.equal(sidecar.progress().lastProgressAt, '2026-11-26T08:00:00.000Z');
    await writeFile(sidecar.config.verifyLog, `${log(`pop3d: LOGIN, user=util1, ${IP}, port=[1]`).join('\n')}\n`, {
      flag: 'a',
    });
    await sidecar.poll();
    const at = sidecar.progress().exercises.find((e) => e.id === 'pop-login')!.at;
    assert.match(at ?? '', /^2026-11-26T09:/);
    assert.equal(sidecar.progress().lastProgressAt, at);
  });
});
