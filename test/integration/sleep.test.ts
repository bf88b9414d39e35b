import { execFile } from 'node:child_process';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { Board } from '../../src/core/board-model.js';
import type { ClassInfo } from '../../src/core/class-model.js';
import type { SleepResult } from '../../src/core/class-sleep.js';
import type { StudentStatus } from '../../src/commands/status.js';
import { DISKS_DIR } from '../../src/docker/disks.js';
import { labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { cleanClass, docker } from '../helpers/docker.js';
import { freeBasePort } from '../helpers/ports.js';
import { Session } from '../helpers/session.js';
import { classBoard, smtpSession, waitForCredits } from '../helpers/td.js';

/**
 * A class that sleeps between sessions: student 1 sends a message and earns credits, the instructor stops the class
 * (nothing runs: no process, so no CPU), the host "reboots" (student 1's disk is unmounted), and `start` brings the
 * class back with the mailbox and the credits as they were.
 */
const CLASS = `sl${process.pid}`;
const PASSWORD = 'master2021';
let info: ClassInfo;
const port = (student: number, service: string) => info.students[student - 1]!.ports[service]!;
const name = (student: number, role: string) => `labctl-${CLASS}-s0${student}-${role}`;
const statusOf = () => labctlJson<StudentStatus[]>(['status', '--class', CLASS]);
const diskMount = (student: number) => path.join(DISKS_DIR, `labctl-${CLASS}-s0${student}-disk`);
const mounted = async (dir: string) =>
  (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').some((line) => line.split(' ')[4] === dir);

/** util1's mailbox over POP3, as a student reads it: LIST, then the first message. */
async function popMailbox(): Promise<{ list: string[]; first: string[] }> {
  const s = await Session.open(port(1, 'pop3'));
  try {
    await s.read(/^\+OK/);
    await s.say('USER util1', /^[+-]/);
    assert.match(await s.say(`PASS ${PASSWORD}`, /^[+-]/), /^\+OK/);
    const list = await s.send('LIST', /^\.$/);
    const first = await s.send('RETR 1', /^\.$|^-ERR/);
    await s.say('QUIT', /^[+-]/);
    return { list, first };
  } finally {
    s.close();
  }
}

describe('stop and start: a class that sleeps between sessions', { timeout: 600_000 }, () => {
  before(async () => {
    await cleanClass(CLASS);
    const up = await labctl(upArgs(CLASS, 2, await freeBasePort(2)));
    assert.equal(up.code, 0, up.stderr);
    info = await labctlJson<ClassInfo>(['info', '--class', CLASS]);
  });
  after(async () => {
    await labctl(['down', '--class', CLASS, '--purge', '--yes']);
    await cleanClass(CLASS);
  });

  it('stop keeps the mailbox and the credits; nothing runs; start brings them back, even with the disk unmounted', async () => {
    await smtpSession(port(1, 'smtp'), 'util1', ['util1'], ['Subject: avant la pause', '', 'bonjour']);
    const before = await waitForCredits(CLASS, 1, ['smtp-simple', 'smtp-subject']);
    const creditAt = before.students[0]!.exercises.find((e) => e.id === 'smtp-subject')!.at;

    const stopped = await labctl(['stop', '--class', CLASS]);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(
      stopped.stdout,
      /Stopped class sl\d+ \(2 students\) in [\d.]+ s: mailboxes, disks and progress are kept/,
    );

    // Not running: no process left in any of the four containers, so they use no CPU and no memory.
    for (const n of [1, 2])
      for (const role of ['mail', 'sidecar']) {
        const { State } = await docker.getContainer(name(n, role)).inspect();
        assert.equal(State.Running, false, `${name(n, role)} runs`);
        assert.equal(State.Pid, 0, `${name(n, role)} has a process`);
      }
    const rows = await statusOf();
    assert.deepEqual(
      rows.map((r) => [r.student, r.state, r.containers.mail, r.containers.sidecar]),
      [
        [1, 'stopped', 'exited', 'exited'],
        [2, 'stopped', 'exited', 'exited'],
      ],
    );
    const text = await labctl(['status', '--class', CLASS]);
    assert.doesNotMatch(text.stdout, /DOWN/, 'a stopped student is not a failure');
    assert.match(text.stdout, /^sl\d+ .* 1 .* stopped$/m);
    const board = await labctl(['check', '--class', CLASS, '--json']);
    assert.equal(board.code, 0, board.stderr);
    const students = (JSON.parse(board.stdout) as Board).students;
    assert.deepEqual(
      students.map((s) => [s.student, s.stopped, s.error]),
      [
        [1, true, undefined],
        [2, true, undefined],
      ],
    );
    const sheet = await labctl(['check', '--class', CLASS, '--format', 'csv']);
    assert.match(sheet.stdout, /^1,.*,stopped(,.*)?$/m);
    assert.match(sheet.stderr, /student\(s\) 1, 2 are stopped: their credits are kept/);
    const table = await labctl(['check', '--class', CLASS]);
    assert.match(table.stdout, /^1 .* stopped$/m);
    assert.doesNotMatch(table.stdout, /sidecar/);

    // As after a reboot of the engine's host: the disk is not mounted any more (stop leaves it mounted).
    assert.equal(await mounted(diskMount(1)), true, 'student 1 has a disk of their own, mounted');
    await promisify(execFile)('umount', [diskMount(1)]);
    assert.equal(await mounted(diskMount(1)), false);

    const started = await labctl(['start', '--class', CLASS, '--json']);
    assert.equal(started.code, 0, started.stderr);
    const result = JSON.parse(started.stdout) as SleepResult;
    assert.deepEqual(
      result.students.map((s) => [s.student, s.state]),
      [
        [1, 'up'],
        [2, 'up'],
      ],
    );
    assert.equal(await mounted(diskMount(1)), true, 'the disk is mounted again');
    assert.deepEqual(
      (await statusOf()).map((r) => [r.student, r.state, Object.values(r.services).every(Boolean)]),
      [
        [1, 'up', true],
        [2, 'up', true],
      ],
    );
    const mailbox = await popMailbox();
    assert.deepEqual(
      mailbox.list.filter((l) => /^\d+ \d+$/.test(l)).map((l) => l.split(' ')[0]),
      ['1'],
      'one message in the mailbox',
    );
    assert.ok(mailbox.first.includes('Subject: avant la pause'), mailbox.first.join('\n'));
    const after = await classBoard(CLASS);
    const credit = after.students[0]!.exercises.find((e) => e.id === 'smtp-subject')!;
    assert.equal(credit.done, true);
    assert.equal(credit.at, creditAt, 'the same credit, from before the pause');
  });

  it('stop --student 2 puts only that student to sleep; start --student 2 wakes them', async () => {
    const stopped = await labctl(['stop', '--class', CLASS, '--student', '2']);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.deepEqual(
      (await statusOf()).map((r) => [r.student, r.state]),
      [
        [1, 'up'],
        [2, 'stopped'],
      ],
    );
    const board = await classBoard(CLASS);
    assert.equal(board.students[0]!.stopped, undefined);
    assert.equal(board.students[1]!.stopped, true);
    const started = await labctlJson<SleepResult>(['start', '--class', CLASS, '--student', '2']);
    assert.deepEqual(
      started.students.map((s) => [s.student, s.state]),
      [[2, 'up']],
    );
  });

  it('start says who did not come back, from what the engine holds: a student whose sidecar is gone', async () => {
    await labctl(['stop', '--class', CLASS, '--student', '2']);
    await docker.getContainer(name(2, 'sidecar')).remove({ force: true });
    const started = await labctl(['start', '--class', CLASS]);
    assert.equal(started.code, 6, started.stderr);
    assert.match(
      started.stderr,
      /1 of 2 student\(s\) of class sl\d+ did not come back:\n {2}student 2 \(down\): no sidecar/,
    );
    // status says so too: exit 6, the rows on stdout (one JSON document), who and why in the error, on stderr.
    const status = await labctl(['status', '--class', CLASS, '--json']);
    assert.equal(status.code, 6, status.stderr);
    assert.deepEqual(
      (JSON.parse(status.stdout) as StudentStatus[]).map((r) => [r.student, r.state]),
      [
        [1, 'up'],
        [2, 'down'],
      ],
    );
    const error = (JSON.parse(status.stderr) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'no-server');
    assert.match(
      error.message,
      /student 2 of class sl\d+: mail exited; no sidecar; smtp, pop3, imap, ssh, web do not answer/,
    );
  });
});
