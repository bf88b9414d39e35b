import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ClassInfo } from '../../src/core/class-model.js';
import { labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { cleanClass, containerId, exec } from '../helpers/docker.js';
import { freeBasePort } from '../helpers/ports.js';
import { Session, SMTP_FINAL } from '../helpers/session.js';
import { sshRun } from '../helpers/ssh.js';
import { classBoard } from '../helpers/td.js';

const run = promisify(execFile);
const CLASS = `ta${process.pid}`;
const PASSWORD = 'master2021';
let base = 0;
let info: ClassInfo;
let dataDir = '';
const port = (student: number, service: string) => info.students[student - 1]!.ports[service]!;
const mailName = (student: number) => `labctl-${CLASS}-s0${student}-mail`;

async function send(student: number, rcpts: string[], subject: string, body = 'corps'): Promise<void> {
  const s = await Session.open(port(student, 'smtp'));
  await s.read(SMTP_FINAL);
  await s.say('helo pv', SMTP_FINAL);
  await s.say('mail from: util1', SMTP_FINAL);
  for (const r of rcpts) assert.match(await s.say(`rcpt to: ${r}`, SMTP_FINAL), /^250 /);
  await s.say('data', SMTP_FINAL);
  s.type(`Subject: ${subject}`);
  s.type('');
  s.type(body);
  assert.match(await s.say('.', SMTP_FINAL), /^250 /);
  await s.say('quit', SMTP_FINAL);
  s.close();
}

const cat = async (student: number, file: string) =>
  (await exec(mailName(student), ['sh', '-c', `cat ${file} 2>/dev/null`])).output;
const maildirCount = async (student: number, user: string) =>
  Number(
    (
      await exec(mailName(student), [
        'sh',
        '-c',
        `find /home/${user}/Maildir/new /home/${user}/Maildir/cur -type f | wc -l`,
      ])
    ).output.trim(),
  );
const messages = (mbox: string) => mbox.match(/^From /gm)?.length ?? 0;

async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, tries = 50): Promise<T> {
  let v = await fn();
  for (let i = 0; i < tries && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 100));
    v = await fn();
  }
  assert.ok(ok(v), `${what}: ${JSON.stringify(v)}`);
  return v;
}

describe('teaching-assistant tools', { timeout: 600_000 }, () => {
  before(async () => {
    await cleanClass(CLASS);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'labctl-data-'));
    process.env.LABCTL_DATA_DIR = dataDir;
    base = await freeBasePort(2);
    const up = await labctl(upArgs(CLASS, 2, base));
    assert.equal(up.code, 0, up.stderr);
    info = await labctlJson<ClassInfo>(['info', '--class', CLASS]);
  });
  after(async () => {
    await cleanClass(CLASS);
    await rm(dataDir, { recursive: true, force: true });
    delete process.env.LABCTL_DATA_DIR;
  });

  it('reset --user empties that account everywhere (spool, Maildir, ~/mbox), backs it up, keeps the others and the progress', async () => {
    await send(1, ['util1', 'util11'], 'avant reset', 'contenu a sauvegarder');
    await send(1, ['util1'], 'deuxieme');
    await until(
      'two messages for util1',
      () => cat(1, '/var/mail/util1'),
      (m) => messages(m) === 2,
    );
    // `mail` moves the messages it showed to ~/mbox when it quits.
    const read = await sshRun(port(1, 'ssh'), 'util1', PASSWORD, "printf 'p 1\\nq\\n' | mail");
    assert.equal(read.code, 0, read.stderr);
    assert.equal(messages(await cat(1, '/home/util1/mbox')), 1);
    await until(
      'credited',
      () => classBoard(CLASS),
      (b) => b.students[0]!.exercises[0]!.done,
    );

    const refused = await labctl(['reset', '--class', CLASS, '--student', '1', '--user', 'util1']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /add --yes/i);
    assert.equal(messages(await cat(1, '/var/mail/util1')), 1, 'nothing removed without --yes');

    const reset = await labctl(['reset', '--class', CLASS, '--student', '1', '--user', 'util1', '--backup', '--yes']);
    assert.equal(reset.code, 0, reset.stderr);
    assert.match(reset.stdout, /student 1 +util1 +removed 1 from the spool, 2 from Maildir, 1 from ~\/mbox/);
    assert.match(reset.stdout, /Progress kept/);
    assert.equal(await cat(1, '/var/mail/util1'), '');
    assert.equal(await cat(1, '/home/util1/mbox'), '');
    assert.equal(await maildirCount(1, 'util1'), 0);
    assert.equal(messages(await cat(1, '/var/mail/util11')), 1, 'util11 is untouched');
    assert.equal(await maildirCount(1, 'util11'), 1);

    const backup = /Backups: (\S+\.tar)/.exec(reset.stdout)![1]!;
    assert.ok(backup.startsWith(path.join(dataDir, CLASS, 'backups')), backup);
    // backup/util1/spool as it was, and backup/util1/home.tar with ~/mbox and ~/Maildir (README, reset).
    const listing = (await run('tar', ['-tf', backup])).stdout;
    const files = listing.split('\n').filter((l) => l && !l.endsWith('/'));
    assert.deepEqual(files.sort(), ['backup/util1/home.tar', 'backup/util1/spool']);
    assert.match((await run('tar', ['-xOf', backup, 'backup/util1/spool'])).stdout, /Subject: deuxieme/);
    const home = (command: string) =>
      run('sh', ['-c', `tar -xOf "$0" backup/util1/home.tar | ${command}`, backup]).then((r) => r.stdout);
    const homeListing = await home('tar -tf -');
    assert.match(homeListing, /^mbox$/m);
    assert.match(homeListing, /^Maildir\/(new|cur)\/\S+/m);
    assert.match(await home('tar -xOf - mbox'), /contenu a sauvegarder/);

    const board = await classBoard(CLASS);
    assert.equal(
      board.students[0]!.exercises.find((e) => e.id === 'smtp-simple')!.done,
      true,
      'progress survives a reset',
    );

    await send(1, ['util1'], 'apres reset');
    await until(
      'delivered after the reset',
      () => cat(1, '/var/mail/util1'),
      (m) => messages(m) === 1 && m.includes('apres reset'),
    );
    const pop = await run('curl', [
      '-s',
      '--max-time',
      '10',
      '-u',
      `util1:${PASSWORD}`,
      `pop3://127.0.0.1:${port(1, 'pop3')}/1`,
    ]);
    assert.match(pop.stdout, /Subject: apres reset/);
  });

  it('a reset during deliveries keeps or removes each message whole', async () => {
    const burst = (async () => {
      for (let i = 0; i < 15; i++) await send(1, ['util11'], `rafale ${i}`, `fin ${i}`);
    })();
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 150));
      const r = await labctl(['reset', '--class', CLASS, '--student', '1', '--user', 'util11', '--yes']);
      assert.equal(r.code, 0, r.stderr);
    }
    await burst;
    await new Promise((r) => setTimeout(r, 1000));
    const spool = await cat(1, '/var/mail/util11');
    for (const message of spool.split(/^(?=From )/m).filter(Boolean)) {
      const n = /Subject: rafale (\d+)/.exec(message)?.[1];
      assert.ok(n !== undefined, `a message without its headers:\n${message}`);
      assert.match(message, new RegExp(`^fin ${n}$`, 'm'), `message ${n} is cut:\n${message}`);
    }
  });

  it('reset --student N --progress empties every account of that student and clears only their progress', async () => {
    await send(2, ['util2'], 'etudiant 2');
    await until(
      'credited',
      () => classBoard(CLASS),
      (b) => b.students[1]!.exercises[0]!.done,
    );
    const r = await labctlJson<{
      students: { student: number; accounts: { user: string }[] }[];
      progressCleared: number[];
    }>(['reset', '--class', CLASS, '--student', '2', '--progress', '--yes']);
    assert.equal(r.students[0]!.accounts.length, 19);
    assert.deepEqual(r.progressCleared, [2]);
    assert.equal(await cat(2, '/var/mail/util2'), '');
    const board = await classBoard(CLASS);
    assert.ok(
      board.students[1]!.exercises.every((e) => !e.done),
      'student 2 starts over',
    );
    assert.ok(board.students[0]!.exercises.find((e) => e.id === 'smtp-simple')!.done, 'student 1 keeps theirs');
  });

  it("reset --hard recreates the student's containers, and they answer again", async () => {
    const before = await containerId(mailName(2));
    const r = await labctl(['reset', '--class', CLASS, '--student', '2', '--hard', '--yes']);
    assert.equal(r.code, 0, r.stderr);
    assert.notEqual(await containerId(mailName(2)), before);
    const status = await labctlJson<{ student: number; services: Record<string, boolean> }[]>([
      'status',
      '--class',
      CLASS,
    ]);
    assert.deepEqual(status.find((s) => s.student === 2)!.services, {
      smtp: true,
      pop3: true,
      imap: true,
      ssh: true,
      web: true,
    });
  });

  it("logs shows the student's Postfix and Courier lines, and --since filters them", async () => {
    const all = await labctl(['logs', '--class', CLASS, '--student', '1']);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /postfix\/smtpd\[\d+\]: connect from/);
    assert.match(all.stdout, /pop3d: LOGIN, user=util1/);
    const none = await labctl([
      'logs',
      '--class',
      CLASS,
      '--student',
      '1',
      '--since',
      new Date(Date.now() + 3600_000).toISOString(),
    ]);
    assert.equal(none.stdout, '');
    const bad = await labctl(['logs', '--class', CLASS, '--student', '1', '--since', 'yesterday-ish']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--since "yesterday-ish" is not a time/);
  });

  it('logs --follow streams a new delivery and stops cleanly on Ctrl-C', async () => {
    const bin = fileURLToPath(new URL('../../../bin/labctl.js', import.meta.url));
    const child = spawn(process.execPath, [
      bin,
      'logs',
      '--class',
      CLASS,
      '--student',
      '1',
      '--follow',
      '--since',
      '1s',
    ]);
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    // The message goes once the log is followed in the container, however long labctl took to start.
    await until(
      'a tail following the log',
      async () => (await exec(mailName(1), ['sh', '-c', 'pgrep -c -x tail || true'])).output.trim(),
      (n) => n === '1',
      300,
    );
    await send(1, ['util11'], 'en direct');
    await until(
      'the delivery streamed',
      async () => out,
      (o) => /to=<util11@[^>]+>, orig_to=<util11>.*status=sent/.test(o),
      300,
    );
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    const tails = await exec(mailName(1), ['sh', '-c', 'ps ax | grep -c "[t]ail -n"']);
    assert.equal(tails.output.trim(), '0', 'no tail left running in the container');
  });

  it('up --passwords random gives each student their own passwords, kept across down and up', async () => {
    const other = `${CLASS}p`;
    await cleanClass(other);
    // A block of its own, disjoint from the first class's and from any class on the engine.
    const otherBase = await freeBasePort(1);
    try {
      const up = await labctl([...upArgs(other, 1, otherBase), '--passwords', 'random']);
      assert.equal(up.code, 0, up.stderr);
      const first = await labctlJson<ClassInfo>(['info', '--class', other]);
      const [util1, util11] = [first.students[0]!.accounts[0]!, first.students[0]!.accounts[10]!];
      assert.match(util1.password, /^[a-z2-9]{10}$/);
      assert.notEqual(util1.password, util11.password);
      const smtpPort = first.students[0]!.ports.pop3!;
      const ok = await run('curl', [
        '-s',
        '--max-time',
        '10',
        '-u',
        `util1:${util1.password}`,
        `pop3://127.0.0.1:${smtpPort}/`,
      ]);
      assert.equal(ok.stdout.trim(), '', 'an empty mailbox listed');
      await assert.rejects(
        run('curl', ['-s', '--max-time', '10', '-u', `util1:${PASSWORD}`, `pop3://127.0.0.1:${smtpPort}/`]),
      );
      const card = await labctl(['info', '--class', other]);
      assert.ok(
        card.stdout.includes(`util1 (mot de passe ${util1.password}) et util11 (mot de passe ${util11.password})`),
      );
      assert.equal((await labctl(['down', '--class', other])).code, 0);
      assert.equal((await labctl(upArgs(other, 1, otherBase))).code, 0);
      const again = await labctlJson<ClassInfo>(['info', '--class', other]);
      assert.deepEqual(again.students[0]!.accounts, first.students[0]!.accounts);
      assert.equal(again.students[0]!.page, first.students[0]!.page, 'the page address survives too');
    } finally {
      await cleanClass(other);
    }
  });

  it('init writes a class file; then a plain `labctl up`, `info` and `down` use it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-init-'));
    const other = `${CLASS}i`;
    const otherBase = await freeBasePort(1);
    process.env.LABCTL_CONFIG = path.join(dir, 'labctl.yaml');
    try {
      const init = await labctl([
        'init',
        '--class',
        other,
        '--students',
        '1',
        '--base-port',
        String(otherBase),
        '--host',
        '127.0.0.1',
      ]);
      assert.equal(init.code, 0, init.stderr);
      assert.match(init.stdout, new RegExp(`class ${other}, 1 students, base port ${otherBase}`));
      const again = await labctl(['init', '--class', other]);
      assert.equal(again.code, 2, 'an existing class file is not overwritten without --force');
      const up = await labctl(['up']);
      assert.equal(up.code, 0, up.stderr);
      const shown = await labctlJson<ClassInfo>(['info']);
      assert.equal(shown.class, other);
      assert.equal(shown.students[0]!.ports.smtp, otherBase + 125);
      const down = await labctl(['down', '--purge', '--yes']);
      assert.equal(down.code, 0, down.stderr);
      assert.match(down.stdout, new RegExp(`of class ${other}`));
    } finally {
      delete process.env.LABCTL_CONFIG;
      await cleanClass(other);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
