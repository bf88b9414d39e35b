import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sameSecret, studentKey } from '../../src/core/token.js';
import type { SidecarConfig } from '../../src/sidecar/config.js';
import { Sidecar } from '../../src/sidecar/sidecar.js';

const LINES = [
  'Nov 26 09:52:41 mail postfix/smtpd[163]: connect from unknown[10.213.1.1]',
  'Nov 26 09:52:41 mail postfix/smtpd[163]: 6027918029D: client=unknown[10.213.1.1]',
  'Nov 26 09:52:41 mail postfix/qmgr[161]: 6027918029D: from=<president@u-picardie.fr>, size=190, nrcpt=2 (queue active)',
  'Nov 26 09:52:41 mail postfix/local[167]: 6027918029D: to=<util11@s01.td1.test>, relay=local, delay=0.02, delays=0.01/0.01/0/0, dsn=2.0.0, status=sent (delivered to mailbox)',
  'Nov 26 09:52:41 mail postfix/local[168]: 6027918029D: to=<util1@s01.td1.test>, orig_to=<util1>, relay=local, delay=0.02, delays=0.01/0.02/0/0, dsn=2.0.0, status=sent (delivered to mailbox)',
];
const POP_LOGIN = 'Nov 26 09:53:00 mail pop3d: LOGIN, user=util1, ip=[::ffff:10.213.1.1], port=[39270]\n';
const MESSAGE = [
  'Return-Path: <president@u-picardie.fr>',
  'Received: from pv (unknown [10.213.1.1])',
  '\tby mail.s01.td1.test (Postfix) with SMTP id 6027918029D;',
  '\tThu, 26 Nov 2026 09:52:41 +0000 (UTC)',
  'Subject: test',
  '',
  'test envoie president',
  '',
].join('\n');

describe('sidecar service', () => {
  let dir: string;
  let config: SidecarConfig;
  const done = (s: Sidecar) =>
    s
      .progress()
      .exercises.filter((e) => e.done)
      .map((e) => e.id);

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-sidecar-'));
    await mkdir(path.join(dir, 'home/util1/Maildir/new'), { recursive: true });
    await mkdir(path.join(dir, 'home/util1/Maildir/cur'), { recursive: true });
    await writeFile(path.join(dir, 'mail.log'), `${LINES.join('\n')}\n`);
    await writeFile(path.join(dir, 'home/util1/Maildir/new/1.M1.mail'), MESSAGE);
    config = {
      card: {
        className: 'td1',
        student: 1,
        host: '192.0.2.1',
        domain: 's01.td1.test',
        ports: {},
        pair: ['util1', 'util11'],
        password: 'x',
        accounts: 19,
      },
      labName: 'smtp-pop-imap',
      labTitle: 'TD',
      exercises: [
        { id: 'smtp-simple', title: 'a' },
        { id: 'smtp-subject', title: 'b' },
        { id: 'smtp-two-recipients', title: 'c' },
        { id: 'pop-login', title: 'd' },
      ],
      adminKey: 't',
      studentKey: 'k',
      logFile: path.join(dir, 'mail.log'),
      homeDir: path.join(dir, 'home'),
      stateFile: path.join(dir, 'state/progress.json'),
      port: 0,
      pollMs: 500,
    };
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('credits from the log and the Maildir, and says so once', async () => {
    const sidecar = new Sidecar(config);
    await sidecar.store.load();
    let changes = 0;
    sidecar.on('change', () => changes++);
    await sidecar.poll();
    assert.deepEqual(done(sidecar), ['smtp-simple', 'smtp-subject', 'smtp-two-recipients']);
    assert.equal(sidecar.progress().done, 3);
    await sidecar.poll();
    assert.equal(changes, 1);
  });

  it('reads only what was appended, and follows the log through rotation', async () => {
    const sidecar = new Sidecar(config);
    await sidecar.store.load();
    await sidecar.poll();
    await rename(config.logFile, `${config.logFile}.1`);
    await writeFile(config.logFile, POP_LOGIN);
    await sidecar.poll();
    assert.ok(done(sidecar).includes('pop-login'));
  });

  it('keeps credits on its volume across a restart, even when the log is gone', async () => {
    await rm(config.logFile);
    await rm(path.join(dir, 'home/util1/Maildir/new/1.M1.mail'));
    const restarted = new Sidecar(config);
    await restarted.store.load();
    await restarted.poll();
    assert.deepEqual(done(restarted), ['smtp-simple', 'smtp-subject', 'smtp-two-recipients', 'pop-login']);
  });

  it('after a progress reset, old lines do not count again but new ones do', async () => {
    await writeFile(config.logFile, POP_LOGIN);
    const sidecar = new Sidecar(config);
    await sidecar.store.load();
    await sidecar.resetProgress();
    await sidecar.poll();
    assert.deepEqual(done(sidecar), []);
    const now = new Date();
    const stamp = `${now.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' })} ${String(now.getUTCDate()).padStart(2)} ${now.toISOString().slice(11, 19)}`;
    await new Promise((r) => setTimeout(r, 1100));
    const later = new Date();
    const stamp2 = `${later.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' })} ${String(later.getUTCDate()).padStart(2)} ${later.toISOString().slice(11, 19)}`;
    assert.notEqual(stamp, stamp2);
    await appendFile(config.logFile, POP_LOGIN.replace('Nov 26 09:53:00', stamp2));
    await sidecar.poll();
    assert.deepEqual(done(sidecar), ['pop-login']);
  });
});

describe('student keys', () => {
  it('are stable for a student, differ between students and classes', () => {
    assert.equal(studentKey('class-a', 1), studentKey('class-a', 1));
    assert.notEqual(studentKey('class-a', 1), studentKey('class-a', 2));
    assert.notEqual(studentKey('class-a', 1), studentKey('class-b', 1));
    assert.match(studentKey('class-a', 1), /^[\w-]{16}$/);
  });

  it('are compared whole', () => {
    assert.equal(sameSecret('abc', 'abc'), true);
    assert.equal(sameSecret('ab', 'abc'), false);
    assert.equal(sameSecret(undefined, 'abc'), false);
  });
});
