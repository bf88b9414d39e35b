import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ClassInfo } from '../../src/core/class-model.js';
import type { Session as TimeBox } from '../../src/core/session.js';
import { labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { cleanClass, exec } from '../helpers/docker.js';
import { freeBasePort } from '../helpers/ports.js';
import { Session, SMTP_FINAL } from '../helpers/session.js';
import { heldTerminal, sshRun, sshSession, sshExec } from '../helpers/ssh.js';
import { classBoard, doneIds, smtpSession, waitForCredits } from '../helpers/td.js';

/**
 * A graded session of a minute, start to end, with no labctl running when it ends: the page counts down,
 * the servers refuse every login at the end with the French message (SMTP, POP3, IMAP, ssh), a session opened
 * before the end is cut, a message typed after the end earns nothing; `extend --student 2` reopens student 2 only;
 * `down --purge` refuses until an archive made after the end exists.
 */
const CLASS = `se${process.pid}`;
const PASSWORD = 'master2021';
const ENDED = /La séance est terminée/;
let info: ClassInfo;
let end = 0;
let dir = '';

const student = (n: number) => info.students.find((s) => s.student === n)!;

/** The first line a server says to a new connection. */
async function greeting(port: number): Promise<string> {
  const s = await Session.open(port);
  try {
    return (await s.read(/./))[0]!;
  } finally {
    s.close();
  }
}

/**
 * Waits until the server's greeting matches (the end is enforced within a second or two of it), asking every 2 s:
 * more often would hit the server's connection rate limit for this host's address.
 */
async function waitGreeting(port: number, wanted: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = await greeting(port).catch((error: Error) => error.message);
    if (wanted.test(last)) return last;
    await new Promise((r) => setTimeout(r, 2000));
  }
  assert.fail(`port ${port} never greeted with ${wanted}; last: ${last}`);
}

describe('a graded session: time box, freeze, extend, purge guard', { timeout: 900_000 }, () => {
  before(async () => {
    await cleanClass(CLASS);
    dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-session-'));
    // The class first, then its time box from a second `up` (which has nothing to start): the session's minute does
    // not depend on how long the first `up` takes on a busy machine.
    const args = upArgs(CLASS, 2, await freeBasePort(2));
    const first = await labctl(args);
    assert.equal(first.code, 0, first.stderr);
    const up = await labctl([...args, '--for', '45s', '--json']);
    assert.equal(up.code, 0, up.stderr);
    const box = (JSON.parse(up.stdout) as { session?: TimeBox }).session;
    assert.ok(box, `up --for says the session: ${up.stdout}`);
    end = Date.parse(box.end);
    info = await labctlJson<ClassInfo>(['info', '--class', CLASS]);
  });
  after(async () => {
    await cleanClass(CLASS);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('warns on the page in the last minutes, and credits work done before the end', async () => {
    const s1 = student(1);
    assert.ok(end - Date.now() > 20_000, 'the test needs the session still open');
    const page = await fetch(s1.page!).then((r) => r.text());
    assert.match(page, /<p id="session" class="session warning"[^>]*>Attention : la séance se termine à \d\d:\d\d/);
    const [a, b] = s1.pair;
    await smtpSession(s1.ports.smtp!, a, [b], ['Subject: avant la fin', '', 'bonjour']);
    await waitForCredits(CLASS, 1, ['smtp-simple']);
  });

  it('at the end, with labctl not running, refuses every login in French and cuts open sessions', async () => {
    const s1 = student(1);
    const [a, b] = s1.pair;
    // Opened before the end: an SMTP session, and a shell.
    const smtp = await Session.open(s1.ports.smtp!);
    await smtp.read(SMTP_FINAL);
    await smtp.say('helo pv', SMTP_FINAL);
    assert.match(await smtp.say(`mail from: ${a}`, SMTP_FINAL), /^250 /);
    const shell = sshSession(s1.ports.ssh!, a, PASSWORD, (conn) => sshExec(conn, 'sleep 600; echo survived')).catch(
      (error: Error) => ({ code: -1, stdout: '', stderr: error.message }),
    );
    // The student who wants the credit without the time: a job left behind, to send a message 4 s after the end.
    const fireAt = Math.ceil((end - Date.now()) / 1000) + 4;
    const left = await sshRun(
      s1.ports.ssh!,
      a,
      PASSWORD,
      `nohup sh -c "sleep ${fireAt}; printf 'Subject: tard\\n\\napres la fin\\n' | /usr/sbin/sendmail ${b}" >/dev/null 2>&1 &` +
        // And eight that send the moment their `sleep` is killed, if their shell outlives it by a moment.
        ` for i in 1 2 3 4 5 6 7 8; do nohup sh -c "sleep 600; printf 'Subject: tard\\n\\nsurvivant\\n' | /usr/sbin/sendmail ${b}" >/dev/null 2>&1 & done`,
    );
    assert.equal(left.code, 0, left.stderr);
    // And six terminals it holds and never reads: each blocks a write, and the end is written to every terminal.
    const held: { close: () => void }[] = [];
    for (let i = 0; i < 6; i++) held.push(await heldTerminal(s1.ports.ssh!, a, PASSWORD));
    const mail = `labctl-${CLASS}-s01-mail`;
    // Held once the channel's window and the pty's buffer are full, a moment after `yes` starts.
    let blocked = 0;
    for (let i = 0; i < 10 && blocked < 6; i++) {
      const tried = await exec(mail, [
        'sh',
        '-c',
        `for t in /dev/pts/[0-9]*; do (timeout 1 sh -c 'printf . >"$1"' w "$t" || echo blocked) & done; wait`,
      ]);
      blocked = (tried.output.match(/blocked/g) ?? []).length;
    }
    assert.ok(blocked >= 6, `only ${blocked} terminal(s) block a write`);
    // No labctl process runs from here to the end: the server and the sidecar act alone.
    await new Promise((r) => setTimeout(r, Math.max(0, end - Date.now())));
    await waitGreeting(s1.ports.smtp!, /^554[ -].*La séance est terminée/, 15_000);
    assert.ok(Date.now() >= end, 'refused only from the end on');

    const rcpt = await smtp.say(`rcpt to: ${b}`, SMTP_FINAL);
    assert.match(rcpt, /^554 .*La séance est terminée/, 'a message typed after the end is refused');
    smtp.close();
    const cut = await shell;
    assert.doesNotMatch(cut.stdout, /survived/, 'the shell opened before the end is ended');
    assert.equal((await exec(mail, ['pgrep', '-u', a])).code, 1, `no process of ${a} outlives the end`);
    held.forEach((h) => h.close());
    await new Promise((r) => setTimeout(r, Math.max(0, end + 8_000 - Date.now())));
    const spool = await exec(mail, ['cat', `/var/mail/${b}`]);
    assert.doesNotMatch(spool.output, /Subject: tard/, 'the job left behind sent nothing');
    assert.match(spool.output, /Subject: avant la fin/, 'what came before the end is kept');

    assert.match(await greeting(s1.ports.pop3!), /^-ERR La séance est terminée/);
    assert.match(await greeting(s1.ports.imap!), /^\* BYE La séance est terminée/);
    await assert.rejects(sshRun(s1.ports.ssh!, a, PASSWORD, 'true'), 'ssh refuses the login');
    // Student 2 too: the whole class ended.
    assert.match(await greeting(student(2).ports.smtp!), ENDED);

    const page = await fetch(s1.page!).then((r) => r.text());
    assert.match(page, /<p id="session" class="session ended"[^>]*>La séance est terminée \(\d\d:\d\d\)/);
    const board = await classBoard(CLASS);
    assert.deepEqual(doneIds(board, 1), ['smtp-simple', 'smtp-subject'], 'the credits earned before the end stay');
    assert.deepEqual(doneIds(board, 2), []);
  });

  it('extend --student 2 reopens student 2 only, whose work then counts', async () => {
    const ext = await labctl(['extend', '--class', CLASS, '--student', '2', '--by', '10m']);
    assert.equal(ext.code, 0, ext.stderr);
    assert.match(ext.stdout, /student 2: ends at \d\d:\d\d \(\+10 min\)/);
    const s2 = student(2);
    await waitGreeting(s2.ports.smtp!, /^220 /, 15_000);
    assert.match(await greeting(student(1).ports.smtp!), ENDED, 'student 1 stays closed');
    await smtpSession(s2.ports.smtp!, s2.pair[0], [s2.pair[1]], ['Subject: temps en plus', '', 'bonjour']);
    await waitForCredits(CLASS, 2, ['smtp-simple']);
    const page = await fetch(s2.page!).then((r) => r.text());
    assert.match(page, /<p id="session" class="session (open|warning)"[^>]*>(Fin de la séance|Attention)/);
  });

  it('down --purge refuses a graded class with no archive since its end; archive, then it purges', async () => {
    const refused = await labctl(['down', '--class', CLASS, '--purge', '--yes']);
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, /graded session .* no archive made after the end/);
    assert.ok((await labctlJson<ClassInfo>(['info', '--class', CLASS])).students.length === 2, 'nothing removed');

    const file = path.join(dir, 'class.tar.gz');
    // Student 2's end is 10 minutes away: their archive must come after it, so the class is not yet purgeable.
    const early = await labctl(['archive', '--class', CLASS, '--output', file]);
    assert.equal(early.code, 0, early.stderr);
    assert.equal((await labctl(['verify-archive', file])).code, 0);
    const still = await labctl(['down', '--class', CLASS, '--purge', '--yes']);
    assert.equal(still.code, 3, still.stderr);
    assert.match(still.stderr, /student 2 has no archive made after the end/);

    // Back to the class's end for student 2 (already past), then an archive after it: purge runs.
    const back = await labctl(['extend', '--class', CLASS, '--student', '2', '--by=-10m']);
    assert.equal(back.code, 0, back.stderr);
    await waitGreeting(student(2).ports.smtp!, ENDED, 15_000);
    const late = await labctl(['archive', '--class', CLASS, '--output', file]);
    assert.equal(late.code, 0, late.stderr);
    const purged = await labctl(['down', '--class', CLASS, '--purge', '--yes']);
    assert.equal(purged.code, 0, purged.stderr);
    assert.match(purged.stdout, /Removed .* volumes/);
  });
});
