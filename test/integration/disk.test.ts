import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ClassInfo } from '../../src/core/class-model.js';
import { DEFAULT_LAB_FILE } from '../../src/core/lab.js';
import type { StudentStatus } from '../../src/commands/status.js';
import { DISKS_DIR } from '../../src/docker/disks.js';
import { labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { cleanClass, docker, exec } from '../helpers/docker.js';
import { freeBasePort } from '../helpers/ports.js';
import { Session, SMTP_FINAL } from '../helpers/session.js';
import { sshRun } from '../helpers/ssh.js';
import { popSession, smtpSession, waitForCredits } from '../helpers/td.js';

/**
 * The student who fills the disk: util1, with a shell on their own server, their local sendmail and `logger`,
 * tries to write 5 GB. Their disk (256 MiB here, set in the lab file) stops them; the host and student 2 do not
 * notice.
 */
const CLASS = `dk${process.pid}`;
const PASSWORD = 'master2021';
const MiB = 1024 * 1024;
const BOUND = 256 * MiB;
const ALL_ACCOUNTS = Array.from({ length: 19 }, (_, i) => `util${i + 1}`).join(' ');
let info: ClassInfo;
let dir = '';
const port = (student: number, service: string) => info.students[student - 1]!.ports[service]!;
const mailName = (student: number) => `labctl-${CLASS}-s0${student}-mail`;
const diskImage = (student: number) => path.join(DISKS_DIR, `labctl-${CLASS}-s0${student}-disk.img`);
const ssh = (student: number, user: string, command: string) => sshRun(port(student, 'ssh'), user, PASSWORD, command);
const hostFree = async () => {
  const fs = await statfs(DISKS_DIR);
  return fs.bavail * fs.bsize;
};
/** How much the container itself (its own layer, on the host's disk) has written. */
const layerBytes = async (name: string) => {
  // GET /containers/{id}/json?size=1; @types/dockerode lacks the option.
  const inspect = docker.getContainer(name).inspect as (o: { size: boolean }) => Promise<{ SizeRw?: number }>;
  return (await inspect.call(docker.getContainer(name), { size: true })).SizeRw ?? 0;
};
const status = async (student: number) =>
  (await labctlJson<StudentStatus[]>(['status', '--class', CLASS])).find((s) => s.student === student)!;

async function until<T>(what: string, get: () => Promise<T>, ok: (value: T) => boolean, seconds = 60): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await get();
    if (ok(value)) return value;
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(value)} after ${seconds} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe("one student's disk", { timeout: 600_000 }, () => {
  before(async () => {
    await cleanClass(CLASS);
    dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-disk-'));
    const lab = path.join(dir, 'lab.yaml');
    await writeFile(lab, `${await readFile(DEFAULT_LAB_FILE, 'utf8')}\ndisk: 256MiB\n`);
    const up = await labctl([...upArgs(CLASS, 2, await freeBasePort(2)), '--lab', lab]);
    assert.equal(up.code, 0, up.stderr);
    info = await labctlJson<ClassInfo>(['info', '--class', CLASS]);
  });
  after(async () => {
    await labctl(['down', '--class', CLASS, '--purge', '--yes']);
    await cleanClass(CLASS);
    await rm(dir, { recursive: true, force: true });
  });

  it('nothing a student can write is on the container layer: only their disk and small tmpfs', async () => {
    // -xdev: the container's own filesystem, whose writes land on the host's disk, without the mounts on it (but
    // their mount points, which are the other filesystems' roots).
    const writable = await ssh(
      1,
      'util1',
      'find / -xdev -writable ! -type l 2>/dev/null | while read -r p; do mountpoint -q "$p" || echo "$p"; done',
    );
    assert.equal(writable.stdout, '', `util1 can write on the container's own layer:\n${writable.stdout}`);
    const lock = await ssh(1, 'util1', 'df --output=fstype,size /run/lock | tail -1');
    assert.match(lock.stdout, /^tmpfs\s+16384$/m, 'the world-writable /run/lock is on a small tmpfs');
    const df = await ssh(1, 'util1', 'df --output=size /var/mail /home /var/log /var/spool/postfix | tail -n +2');
    const sizes = df.stdout
      .trim()
      .split('\n')
      .map((k) => Number(k) * 1024);
    assert.equal(new Set(sizes).size, 1, 'the spool, the homes, the logs and the queue share one disk');
    assert.ok(sizes[0]! <= BOUND && sizes[0]! > BOUND * 0.8, `a disk of the lab's size: ${sizes[0]}`);
  });

  it('a ~/.forward pipe runs nothing: mail to commands is for the aliases only', async () => {
    await ssh(2, 'util12', `echo '"|/usr/bin/touch /home/util12/pwned"' > ~/.forward`);
    try {
      await smtpSession(port(2, 'smtp'), 'util2', ['util12'], ['Subject: pipe', '', 'hello']);
      const line = await until(
        "util12's delivery in the mail log",
        async () => (await ssh(2, 'util2', 'grep "to=<util12@" /var/log/mail.log | tail -1')).stdout,
        (text) => /status=/.test(text),
      );
      assert.match(line, /status=bounced \(mail to command is restricted\)/);
      assert.notEqual((await ssh(2, 'util12', 'test -e ~/pwned')).code, 0, 'the command never ran');
    } finally {
      await ssh(2, 'util12', "echo 'util12, /home/util12/Maildir/' > ~/.forward");
    }
  });

  it('student 1 tries to write 5 GB through mail and logger: they stop at their disk, the host and student 2 do not notice', async () => {
    const freeBefore = await hostFree();
    const layerBefore = await layerBytes(mailName(1));
    // 4 GB of mail through the local sendmail (no rate limit there), 19 recipients at a time, 8 at once, and 1 GB of
    // log lines.
    const flood = await ssh(
      1,
      'util1',
      [
        'head -c 14000000 /dev/urandom | base64 > /tmp/photo',
        `for b in $(seq 1 27); do for i in 1 2 3 4 5 6 7 8; do /usr/sbin/sendmail ${ALL_ACCOUNTS} < /tmp/photo 2>/dev/null & done; wait; done`,
        'yes "$(head -c 7900 /dev/zero | tr "\\0" x)" | head -n 130000 | logger --size 8000 -p mail.info',
        'df --output=avail /var/mail | tail -1',
      ].join('; '),
    );
    assert.equal(flood.code, 0, flood.stderr);
    assert.ok(Number(flood.stdout.trim()) * 1024 < 50 * MiB, `util1 filled their disk: ${flood.stdout}`);

    // The host lost no more than the bound: the disk is sparse, and nothing went to the container's layer.
    const lost = freeBefore - (await hostFree());
    assert.ok(lost <= BOUND, `the host's free space dropped by ${Math.round(lost / MiB)} MiB, over the bound`);
    assert.ok(
      (await layerBytes(mailName(1))) - layerBefore < 8 * MiB,
      "the container's own layer (the host's disk) barely grew",
    );

    // What student 1 sees: their own server refuses mail for want of room; status and the board flag them.
    const s = await Session.open(port(1, 'smtp'));
    await s.read(SMTP_FINAL);
    await s.say('helo pv', SMTP_FINAL);
    assert.match(await s.say('mail from: util2', SMTP_FINAL), /^452 4\.3\.1 Insufficient system storage/);
    s.close();
    const full = await status(1);
    assert.ok(full.disk && full.disk.percent >= 90 && full.disk.boundBytes === BOUND, JSON.stringify(full.disk));
    assert.match((await labctl(['status', '--class', CLASS])).stdout, /FULL \d+% of 256 MiB/);
    assert.match((await labctl(['check', '--class', CLASS])).stdout, /^1 .*disk \d+% full$/m);

    // Student 2 still receives mail and is credited.
    await smtpSession(port(2, 'smtp'), 'util12', ['util2'], ['Subject: toujours là', '', 'bonjour']);
    await waitForCredits(CLASS, 2, ['smtp-simple', 'smtp-subject']);
    assert.ok((await status(2)).disk!.percent < 10);

    // Student 1's sidecar keeps working on a full disk: root's reserve still takes the trusted log.
    await popSession(port(1, 'pop3'), 'util11', PASSWORD, false);
    await waitForCredits(CLASS, 1, ['pop-login']);
  });

  it('the message archive is pruned back to its share of the disk (a quarter), oldest first', async () => {
    const archiveKiB = async () =>
      Number((await exec(mailName(1), ['du', '-sk', '/var/lib/labctl/evidence/archive'])).output.split('\t')[0]);
    await until('the archive, in KiB', archiveKiB, (kib) => kib * 1024 <= BOUND / 4, 90);
  });

  it('down --purge deletes the disks: no mount, no image left', async () => {
    const down = await labctl(['down', '--class', CLASS, '--purge', '--yes']);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /and 2 disks of class/);
    assert.ok(!existsSync(diskImage(1)) && !existsSync(diskImage(2)));
    assert.doesNotMatch(await readFile('/proc/self/mountinfo', 'utf8'), new RegExp(`labctl-${CLASS}-`));
  });
});
