import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { check } from '../../src/commands/check.js';
import type { Board } from '../../src/core/board-model.js';
import { start } from '../../src/commands/start.js';
import { status } from '../../src/commands/status.js';
import { stop } from '../../src/commands/stop.js';
import { boardPage, boardView } from '../../src/ui/board-page.js';
import { ExitCode } from '../../src/errors.js';
import { fails, fakeClass, ports, testContext } from '../helpers/fake-class.js';
import { FakeEngine } from '../helpers/fake-engine.js';
import { greetAs } from '../helpers/greeters.js';

/** stop and start through their Context: what the instructor sees, the exit code, what was asked of the engine. */
describe('stop and start, through their context', () => {
  let engine: FakeEngine;
  beforeEach(async () => {
    engine = new FakeEngine();
    await fakeClass(engine, { className: 'sc', students: 2 });
  });

  it('stop stops both workloads of every student and keeps everything; status, check and the board say stopped', async () => {
    const t = testContext(engine);
    const result = await stop({ className: 'sc' }, t.ctx);
    assert.match(t.stdout(), /^Stopped class sc \(2 students\) in [\d.]+ s: mailboxes, disks and progress are kept\./);
    assert.deepEqual(result.students, [
      { student: 1, state: 'stopped' },
      { student: 2, state: 'stopped' },
    ]);
    assert.deepEqual(engine.calls.sort(), [
      'stop labctl-sc-s01-mail',
      'stop labctl-sc-s01-sidecar',
      'stop labctl-sc-s02-mail',
      'stop labctl-sc-s02-sidecar',
    ]);
    assert.equal(engine.volumes.size, 14, 'mailboxes kept');
    assert.equal(engine.disks.size, 2, 'disks kept');

    const shown = testContext(engine);
    const rows = await status({ className: 'sc' }, shown.ctx);
    assert.deepEqual(
      rows.map((r) => [r.student, r.state]),
      [
        [1, 'stopped'],
        [2, 'stopped'],
      ],
    );
    assert.doesNotMatch(shown.stdout(), /DOWN/);
    assert.match(shown.stdout(), /^sc +smtp-pop-imap +2 +127\.0\.0\.1 +exited +exited +- +- +- +- +- +\S+ +stopped$/m);

    const board = await check({ className: 'sc', json: true }, testContext(engine, { json: true }).ctx);
    assert.deepEqual(
      board.students.map((s) => [s.student, s.stopped, s.error]),
      [
        [1, true, undefined],
        [2, true, undefined],
      ],
    );
    const table = testContext(engine);
    await check({ className: 'sc' }, table.ctx);
    assert.match(table.stdout(), /^2 +(· +){12}0\/12 +stopped$/m);
    const sheet = testContext(engine);
    await check({ className: 'sc', format: 'csv' }, sheet.ctx);
    assert.match(sheet.stdout(), /^1,(0,){12}0,12,stopped(,){12}$/m, 'no time: nothing credited');
    assert.match(sheet.stderr(), /student\(s\) 1, 2 are stopped: their credits are kept on their sidecar/);
    const page = boardPage(boardView(board), '/events');
    assert.match(page, /<tr id="student-1" class="stopped">.*<span class="why">stopped<\/span>/);
  });

  it('stop --student 2 touches only student 2', async () => {
    const t = testContext(engine, { json: true });
    const result = await stop({ className: 'sc', student: 2, json: true }, t.ctx);
    assert.deepEqual(result.students, [{ student: 2, state: 'stopped' }]);
    assert.deepEqual(engine.calls.sort(), ['stop labctl-sc-s02-mail', 'stop labctl-sc-s02-sidecar']);
  });

  it('a student with one workload down is a failure, not asleep', async () => {
    engine.containers.get('labctl-sc-s02-sidecar')!.state = 'exited';
    const t = testContext(engine, { json: true });
    await fails(status({ className: 'sc' }, t.ctx), ExitCode.notReady, /student 2 of class sc: sidecar exited/);
    const rows = JSON.parse(t.stdout()) as { state: string }[];
    assert.equal(rows[1]!.state, 'down');
    const shown = testContext(engine, { json: true });
    await fails(check({ className: 'sc' }, shown.ctx), ExitCode.notReady, /student 2's progress: sidecar exited\./);
    const board = JSON.parse(shown.stdout()) as Board;
    assert.equal(board.students[1]!.error, 'sidecar exited');
    assert.equal(board.students[1]!.stopped, undefined);
  });

  it('start mounts a disk that is not mounted any more, then starts the workloads, and waits until all answer', async () => {
    await stop({ className: 'sc' }, testContext(engine).ctx);
    // As after a reboot: the disks are there, not mounted.
    for (const d of engine.disks.values()) d.mounted = false;
    engine.calls = [];
    const close = await Promise.all([greetAs(1, ports(1)), greetAs(2, ports(2))]);
    try {
      const t = testContext(engine);
      const result = await start({ className: 'sc', timeout: 10 }, t.ctx);
      assert.match(t.stdout(), /^Started class sc \(2 students\) in [\d.]+ s: every service answers\./);
      assert.deepEqual(result.students, [
        { student: 1, state: 'up' },
        { student: 2, state: 'up' },
      ]);
    } finally {
      await Promise.all(close.map((c) => c()));
    }
    for (const n of ['01', '02']) {
      const mine = engine.calls.filter((c) => c.includes(`-s${n}-`));
      assert.deepEqual(mine.slice(0, 1), [`mount-disk labctl-sc-s${n}-disk`], 'the disk first');
      assert.deepEqual(mine.slice(1).sort(), [`start labctl-sc-s${n}-mail`, `start labctl-sc-s${n}-sidecar`]);
    }
  });

  it('start reports, from what answers afterwards, each student who did not come back (exit 6); the others stay up', async () => {
    await stop({ className: 'sc' }, testContext(engine).ctx);
    engine.containers.delete('labctl-sc-s02-sidecar');
    const close = await greetAs(1, ports(1));
    try {
      await fails(
        start({ className: 'sc', timeout: 5 }, testContext(engine).ctx),
        ExitCode.notReady,
        /^1 of 2 student\(s\) of class sc did not come back:\n {2}student 2 \(down\): no sidecar workload: `labctl up` makes it again$/,
      );
    } finally {
      await close();
    }
    assert.equal(engine.containers.get('labctl-sc-s01-mail')!.state, 'running', 'student 1 is not undone');
    assert.ok(!engine.calls.includes('start labctl-sc-s02-mail'), 'a student without a sidecar is not started half');
  });

  it('start of a student whose servers never answer names the service (exit 6)', async () => {
    await stop({ className: 'sc', student: 1 }, testContext(engine).ctx);
    await fails(
      start({ className: 'sc', student: 1, timeout: 1 }, testContext(engine).ctx),
      ExitCode.notReady,
      /student 1 \(down\): Student 1's mail server did not get ready at 127\.0\.0\.1/,
    );
  });

  it('Ctrl-C while start waits ends it with 130, saying who is up and who is not', async () => {
    await stop({ className: 'sc' }, testContext(engine).ctx);
    const close = await greetAs(1, ports(1));
    try {
      const t = testContext(engine);
      const run = start({ className: 'sc', timeout: 30 }, t.ctx);
      while (!engine.calls.some((c) => c.startsWith('start '))) await new Promise((r) => setTimeout(r, 5));
      t.interrupt();
      await fails(run, ExitCode.interrupted, /^Interrupted: up: student\(s\) 1; not up: student\(s\) 2\.$/);
      assert.equal(engine.locks.size, 0, 'the class lock is given back');
    } finally {
      await close();
    }
  });

  it('Ctrl-C during stop: the student under way is stopped, the others left running, and it says so (exit 130)', async () => {
    engine.parallelism = 1;
    const t = testContext(engine);
    engine.onCall = (call) => {
      if (call === 'stop labctl-sc-s01-mail') t.interrupt();
    };
    await fails(
      stop({ className: 'sc' }, t.ctx),
      ExitCode.interrupted,
      /^Interrupted: stopped: student\(s\) 1; not stopped: student\(s\) 2\.$/,
    );
    assert.deepEqual(engine.calls.sort(), ['stop labctl-sc-s01-mail', 'stop labctl-sc-s01-sidecar']);
    assert.equal(engine.containers.get('labctl-sc-s02-mail')!.state, 'running');
    assert.equal(engine.locks.size, 0, 'the class lock is given back');
  });
});
