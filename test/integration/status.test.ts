import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { ClassInfo } from '../../src/core/class-model.js';
import type { StudentStatus } from '../../src/commands/status.js';
import { labctl, upArgs } from '../helpers/cli.js';
import { cleanClass, exec } from '../helpers/docker.js';
import { freeBasePort } from '../helpers/ports.js';
import { sshRun } from '../helpers/ssh.js';

/**
 * `labctl status` reads what listens on each student's ports as their server's kernel says it, through the sidecar:
 * it asks nothing of the daemons (no line in the mail log the student reads), and still sees a daemon gone and one
 * that no longer takes connections. What it reads, students can neither write nor read.
 */
const CLASS = `st${process.pid}`;
const PASSWORD = 'master2021';
const mailName = `labctl-${CLASS}-s01-mail`;
let info: ClassInfo;
const port = (service: string) => info.students[0]!.ports[service]!;

interface Read {
  code: number;
  stderr: string;
  row: StudentStatus;
}

async function statusOf(...flags: string[]): Promise<Read> {
  const r = await labctl(['status', '--class', CLASS, '--json', ...flags]);
  assert.ok(r.code === 0 || r.code === 6, `status exited ${r.code}: ${r.stderr}`);
  return { code: r.code, stderr: r.stderr, row: (JSON.parse(r.stdout) as StudentStatus[])[0]! };
}

/** Reads status until `ok` holds (20 s at most); gives that reading and how long it took to come. */
async function statusUntil(what: string, ok: (r: Read) => boolean): Promise<Read & { ms: number }> {
  const start = Date.now();
  let r = await statusOf();
  while (!ok(r) && Date.now() - start < 20_000) {
    await new Promise((done) => setTimeout(done, 250));
    r = await statusOf();
  }
  assert.ok(ok(r), `${what}: ${JSON.stringify(r)}`);
  return { ...r, ms: Date.now() - start };
}

const mailLog = async () => (await exec(mailName, ['cat', '/var/log/mail.log'])).output.split('\n');
const up = (r: Read) => r.code === 0 && r.row.state === 'up';

describe('status, from what listens', { timeout: 300_000 }, () => {
  before(async () => {
    await cleanClass(CLASS);
    const result = await labctl(upArgs(CLASS, 1, await freeBasePort(1)));
    assert.equal(result.code, 0, result.stderr);
    const cards = await labctl(['info', '--class', CLASS, '--json']);
    info = JSON.parse(cards.stdout) as ClassInfo;
  });
  after(() => cleanClass(CLASS));

  it("says every service is up without a line in the student's mail log; --greet greets each", async () => {
    const before = (await mailLog()).length;
    const read = await statusOf();
    assert.equal(read.code, 0, read.stderr);
    assert.deepEqual(
      [read.row.seen, read.row.state, read.row.services],
      ['listeners', 'up', { smtp: true, pop3: true, imap: true, ssh: true, web: true }],
    );
    // Then a status that greets: its sessions are the first lines after the plain one, and the only ones.
    const greeted = await statusOf('--greet');
    assert.equal(greeted.code, 0, greeted.stderr);
    assert.equal(greeted.row.seen, undefined);
    let lines: string[] = [];
    for (let i = 0; i < 40; i++) {
      lines = (await mailLog()).slice(before - 1);
      if (lines.some((l) => /imapd: LOGOUT/.test(l)) && lines.some((l) => /pop3d: LOGOUT/.test(l))) break;
      await new Promise((done) => setTimeout(done, 250));
    }
    const count = (re: RegExp) => lines.filter((l) => re.test(l)).length;
    assert.deepEqual(
      [count(/postfix\/smtpd\[\d+\]: connect from/), count(/pop3d: Connection,/), count(/imapd: Connection,/)],
      [1, 1, 1],
      lines.join('\n'),
    );
  });

  it('names a daemon gone (nothing listens), exit 6, within seconds; started again, the student is up', async () => {
    await exec(mailName, ['pkill', '-f', 'couriertcpd.* 110 ']);
    const gone = await statusUntil('pop3 shown down', (r) => r.row.services.pop3 === false);
    assert.equal(gone.code, 6);
    assert.deepEqual(gone.row.why, { pop3: 'nothing listens' });
    assert.match(gone.stderr, /student 1 of class st\d+: pop3 \(nothing listens\) does not answer/);
    console.log(`status: pop3's daemon gone, shown DOWN after ${gone.ms} ms`);
    assert.equal((await exec(mailName, ['/usr/sbin/pop3d', 'start'])).code, 0);
    await statusUntil('pop3 back', up);
  });

  it('names a daemon that no longer takes connections, with how many wait', async () => {
    const pid = (await exec(mailName, ['pgrep', '-f', '^/usr/sbin/couriertcpd .* 143 '])).output.trim();
    assert.match(pid, /^\d+$/);
    await exec(mailName, ['kill', '-STOP', pid]);
    const sockets = [1, 2, 3].map(() => net.connect(port('imap'), '127.0.0.1').on('error', () => {}));
    try {
      const stuck = await statusUntil('imap shown stuck', (r) => r.row.services.imap === false);
      assert.equal(stuck.code, 6);
      assert.match(stuck.row.why?.imap ?? '', /^\d+ connections left waiting$/);
      assert.equal(stuck.row.services.pop3, true);
    } finally {
      await exec(mailName, ['kill', '-CONT', pid]);
      for (const s of sockets) s.destroy();
    }
    await statusUntil('imap back', up);
  });

  it('a student can neither write nor read what status reads', async () => {
    const r = await sshRun(
      port('ssh'),
      'util1',
      PASSWORD,
      'echo "forged 9 listening 0" > /var/lib/labctl/evidence/listening; echo "write $?"; ' +
        'cat /var/lib/labctl/evidence/listening; echo "read $?"',
    );
    assert.match(r.stdout, /^write 1$/m);
    assert.match(r.stdout, /^read 1$/m);
    assert.match(r.stderr, /Permission denied/);
    const listeners = (await exec(mailName, ['cat', '/var/lib/labctl/evidence/listening'])).output;
    assert.doesNotMatch(listeners, /forged/);
    assert.deepEqual(
      listeners
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ')[0]),
      ['smtp', 'pop3', 'imap', 'ssh'],
    );
  });
});
