import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { ClassInfo } from '../../src/core/class-model.js';
import { BIN, labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { cleanClass, exec } from '../helpers/docker.js';
import { freeBasePort } from '../helpers/ports.js';
import { sshExec, sshRun, sshSession } from '../helpers/ssh.js';

/**
 * A student racing a teaching assistant's command on their own server, as root runs it: `reset --backup` and
 * `logs --follow` must give them nothing, whatever they plant where those commands write.
 */
const run = promisify(execFile);
const CLASS = `tr${process.pid}`;
const PASSWORD = 'master2021';
const MAIL = `labctl-${CLASS}-s01-mail`;
let info: ClassInfo;
let dataDir = '';
const ssh = (user: string, command: string) => sshRun(info.students[0]!.ports.ssh!, user, PASSWORD, command);
const root = async (command: string) => (await exec(MAIL, ['sh', '-c', command])).output;
const tails = async () => Number((await root('ps -eo comm= | grep -cx tail || true')).trim());

/**
 * As util11, whose spool is theirs to write: /etc/passwd with root's password emptied, as their spool, kept
 * full; then, in a loop, links to /etc/passwd and /etc/shadow at every path they can find or guess where a
 * backup of util11 could be written, in the old layout (backup-TIME/util11/spool) and in the new one.
 */
const PLANT = String.raw`
sed 's/^root:[^:]*:/root::/' /etc/passwd >~/passwd
cat ~/passwd >/var/mail/util11
ln -s /etc /var/lib/labctl/backups 2>/dev/null
nohup bash -c '
  shopt -s nullglob
  touch ~/planting
  while :; do
    [ -s /var/mail/util11 ] || cat ~/passwd >/var/mail/util11
    for d in /var/lib/labctl/backup-*/util11 /var/lib/labctl/*/util11 /var/lib/labctl/*/*/util11 \
        /var/lib/labctl/*/*/*/util11 /var/lib/labctl/backups/*/backup/util11; do
      ln -sf /etc/passwd "$d/spool"; ln -sf /etc/shadow "$d/home.tar"; ln -sf /etc/shadow "$d/mbox"
    done 2>/dev/null
  done' >/dev/null 2>&1 &
until [ -e ~/planting ]; do sleep 0.1; done
echo planting`;

/**
 * The TA's `logs --follow` until it shows the log's first lines (Postfix's start), then Ctrl-C; `started` runs as
 * soon as it is spawned.
 */
async function followThenCtrlC(started: (pid: number) => Promise<void> = async () => {}) {
  const child = spawn(process.execPath, [BIN, 'logs', '--class', CLASS, '--student', '1', '--follow']);
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  let out = '';
  const shown = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (/postfix\/master\[\d+\]: daemon started/.test(out)) resolve();
    });
    child.on('close', () => reject(new Error(`logs --follow ended before showing the log:\n${out}`)));
  });
  shown.catch(() => {});
  try {
    await started(child.pid!);
    await shown;
  } finally {
    child.kill('SIGINT');
  }
  assert.equal(await exited, 0);
}

describe("a student racing a TA's command", { timeout: 600_000 }, () => {
  before(async () => {
    await cleanClass(CLASS);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'labctl-data-'));
    process.env.LABCTL_DATA_DIR = dataDir;
    const up = await labctl(upArgs(CLASS, 1, await freeBasePort(1)));
    assert.equal(up.code, 0, up.stderr);
    info = await labctlJson<ClassInfo>(['info', '--class', CLASS]);
  });
  after(async () => {
    for (const user of ['util1', 'util11']) await exec(MAIL, ['pkill', '-KILL', '-u', user]).catch(() => {});
    await cleanClass(CLASS);
    await rm(dataDir, { recursive: true, force: true });
    delete process.env.LABCTL_DATA_DIR;
  });

  it("reset --backup, raced by the student's links, changes no system file and gives no root", async () => {
    const sums = () => root('sha256sum /etc/passwd /etc/shadow');
    const before = await sums();
    assert.match(before, /^[0-9a-f]{64} {2}\/etc\/shadow$/m);
    assert.match((await ssh('util11', PLANT)).stdout, /planting/);

    const backups: string[] = [];
    for (let i = 0; i < 8; i++) {
      const reset = await labctl([
        'reset',
        '--class',
        CLASS,
        '--student',
        '1',
        '--user',
        'util11',
        '--backup',
        '--yes',
      ]);
      assert.equal(reset.code, 0, reset.stderr);
      backups.push(/Backups: (\S+\.tar)/.exec(reset.stdout)?.[1] ?? '');
    }
    await exec(MAIL, ['pkill', '-KILL', '-u', 'util11']);

    const su = await ssh('util11', "printf '\\n' | su - root -c id 2>&1; true");
    assert.doesNotMatch(su.stdout, /uid=0/, `su gave root:\n${su.stdout}`);
    assert.equal(await sums(), before, '/etc/passwd or /etc/shadow was written');
    // Each backup holds the spool as it was: the student's own file, whatever they planted.
    for (const backup of backups) {
      assert.ok(backup, 'a reset gave no backup');
      const listing = (await run('tar', ['-tvf', backup])).stdout;
      assert.match(listing, /^-\S+ \S+ +\d+ .* \S*util11\/spool$/m, listing);
      const spool = await run('tar', ['-xOf', backup, '--wildcards', '*/util11/spool']);
      assert.match(spool.stdout, /^root::0:0:/m);
    }
  });

  it('a pid planted where logs --follow kept its pid file kills nothing of the student’s choosing', async () => {
    const target = (await root('pidof rsyslogd')).trim();
    assert.match(target, /^\d+$/);
    // The old pid file was /tmp/labctl-logs-<labctl's pid>-<Date.now()>.pid, written and later read by root. The
    // student links every name of the next minute to a file of theirs holding rsyslogd's pid, and puts it back
    // whenever root writes through a link.
    await sshSession(info.students[0]!.ports.ssh!, 'util1', PASSWORD, async (conn) => {
      await followThenCtrlC(async (pid) => {
        const planted = await sshExec(
          conn,
          `echo ${target} >/tmp/choice
          perl -e 'symlink "/tmp/choice", "/tmp/labctl-logs-$ARGV[0]-$_.pid" for $ARGV[1] .. $ARGV[1] + 60000' ${pid} ${Date.now()}
          nohup sh -c 'while sleep 0.02; do [ "$(cat /tmp/choice)" = ${target} ] || echo ${target} >/tmp/choice; done' >/dev/null 2>&1 &
          echo planted`,
        );
        assert.match(planted.stdout, /planted/, planted.stderr);
      });
    });
    assert.equal((await root('pidof rsyslogd')).trim(), target, 'rsyslogd was killed');
    assert.equal(await tails(), 0, 'a tail is left running');
    await exec(MAIL, ['pkill', '-KILL', '-u', 'util1']);
    await root('rm -f /tmp/choice /tmp/labctl-logs-*');
  });

  it('a /tmp the student filled leaves no tail of logs --follow running after Ctrl-C', async () => {
    const filled = await ssh(
      'util1',
      'for f in 1 2; do dd if=/dev/zero of=/tmp/fill$f bs=1M 2>/dev/null; done; df --output=avail /tmp | tail -1',
    );
    assert.equal(filled.stdout.trim(), '0', 'the student could not fill /tmp');
    await followThenCtrlC();
    assert.equal(await tails(), 0, 'a tail is left running');
    await root('rm -f /tmp/fill1 /tmp/fill2 /tmp/labctl-logs-*');
  });
});
