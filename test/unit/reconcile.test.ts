import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { applyDiff, applyPrune } from '../../src/core/apply.js';
import { observe } from '../../src/core/class-up.js';
import { loadLab, type Lab } from '../../src/core/lab.js';
import { LABEL } from '../../src/core/labels.js';
import { planClass, type ClassOptions, type Plan } from '../../src/core/plan.js';
import { formatDiff, reconcile, type Diff, type Step } from '../../src/core/reconcile.js';
import { FakeEngine } from '../helpers/fake-engine.js';

const base: ClassOptions = {
  className: 'rc',
  students: 2,
  basePort: 10000,
  host: '192.0.2.10',
  bind: '0.0.0.0',
  mailImage: 'labctl/mail:one',
  sidecarImage: 'labctl/sidecar:one',
  token: 'secret-token',
  passwords: 'lab',
};

let lab: Lab;
let engine: FakeEngine;
const plan = (o: Partial<ClassOptions> = {}) => planClass(lab, { ...base, ...o });
const diffOf = async (p: Plan, prune = false) => reconcile(p, await observe(engine, p.className), { prune });
const kinds = (steps: Step[]) => steps.map((s) => s.kind);
const apply = (diff: Diff, p: Plan, ready = () => Promise.resolve()) =>
  applyDiff(diff, p, engine, { concurrency: 4, timeoutSeconds: 5, signal: new AbortController().signal, ready });
/** What the engine holds, as names, to compare before and after. */
const snapshot = () => ({
  containers: [...engine.containers.values()].map((c) => `${c.name} ${c.image} ${c.state}`).sort(),
  networks: [...engine.networks.keys()].sort(),
  volumes: [...engine.volumes.keys()].sort(),
  disks: [...engine.disks.values()].map((d) => `${d.name} ${d.mounted ? 'mounted' : 'unmounted'}`).sort(),
});

describe('reconcile(plan, observed) against a fake engine', () => {
  beforeEach(async () => {
    lab ??= await loadLab();
    engine = new FakeEngine();
  });

  it('a first up creates each student disk, network, seven volumes, then mail and sidecar', async () => {
    const p = await plan();
    const diff = await diffOf(p);
    assert.deepEqual(diff.conflicts, []);
    assert.deepEqual(
      diff.apply.map((s) => s.student),
      [1, 2],
    );
    assert.deepEqual(kinds(diff.apply[0]!.steps), [
      'create-disk',
      'create-network',
      ...Array(7).fill('create-volume'),
      'create',
      'create',
    ]);
    assert.match(
      formatDiff(diff, p),
      /^Class rc: 22 changes for 2 students\.\nstudent 1:\n {2}create disk labctl-rc-s01-disk \(1 GiB\)\n {2}create network labctl-rc-s01\n/,
    );
  });

  it("volumes are made with the workloads that mount them, carrying their labels (the class token's among them)", async () => {
    const p = await plan({ students: 1 });
    await apply(await diffOf(p), p);
    assert.ok(!engine.calls.some((c) => c.startsWith('create-volume')), 'no separate call per volume');
    assert.deepEqual([...engine.volumes.keys()].sort(), p.students[0]!.volumes.map((v) => v.name).sort());
    assert.equal(engine.volumes.get('labctl-rc-s01-progress')?.labels[LABEL.token], 'secret-token');
    assert.equal(engine.volumes.get('labctl-rc-s01-spool')?.labels[LABEL.class], 'rc');
  });

  it('the same plan again changes nothing', async () => {
    const p = await plan();
    await apply(await diffOf(p), p);
    const again = await diffOf(await plan());
    assert.deepEqual(again.apply, []);
    assert.deepEqual(again.unchanged, [1, 2]);
    assert.match(formatDiff(again, p), /^Class rc: nothing to change\.\nunchanged: students 1-2$/);
  });

  it('growing from 2 to 3 students touches only student 3', async () => {
    const p = await plan();
    await apply(await diffOf(p), p);
    const grown = await diffOf(await plan({ students: 3 }));
    assert.deepEqual(
      grown.apply.map((s) => s.student),
      [3],
    );
    assert.deepEqual(grown.unchanged, [1, 2]);
  });

  it('shrinking without --prune is a conflict that changes nothing; with --prune it removes the extra student but not their volumes', async () => {
    const p3 = await plan({ students: 3 });
    await apply(await diffOf(p3), p3);
    const p2 = await plan({ students: 2 });
    const refused = await diffOf(p2);
    assert.equal(refused.conflicts[0]?.code, 'extra-students');
    assert.match(refused.conflicts[0]!.message, /student 3 beyond --students 2/);
    const pruned = await diffOf(p2, true);
    assert.deepEqual(pruned.conflicts, []);
    assert.deepEqual(pruned.extra, [3]);
    assert.deepEqual(kinds(pruned.prune[0]!.steps).sort(), ['remove', 'remove', 'remove-network']);
    await applyPrune(pruned, engine);
    assert.ok(![...engine.containers.keys()].some((n) => n.includes('-s03-')));
    assert.ok(!engine.networks.has('labctl-rc-s03'));
    assert.ok(engine.volumes.has('labctl-rc-s03-spool'), 'mailboxes stay until down --purge');
  });

  it('a changed image replaces the workloads, keeping the old ones aside until the new ones answer', async () => {
    const p = await plan();
    await apply(await diffOf(p), p);
    const p2 = await plan({ mailImage: 'labctl/mail:two' });
    const diff = await diffOf(p2);
    assert.deepEqual(
      diff.apply.map((s) => s.steps.map((st) => (st.kind === 'replace' ? `${st.kind} ${st.reason}` : st.kind))),
      [['replace new image'], ['replace new image']],
    );
    await apply(diff, p2);
    assert.equal(engine.containers.get('labctl-rc-s01-mail')?.image, 'labctl/mail:two');
    assert.ok(![...engine.containers.keys()].some((n) => n.includes('-old-')), 'the old ones are removed at the end');
  });

  it('a stopped workload is started again; a dead one is replaced', async () => {
    const p = await plan();
    await apply(await diffOf(p), p);
    engine.containers.get('labctl-rc-s01-mail')!.state = 'exited';
    engine.containers.get('labctl-rc-s02-sidecar')!.state = 'dead';
    const diff = await diffOf(p);
    assert.deepEqual(diff.apply[0]!.steps, [
      { kind: 'start', name: 'labctl-rc-s01-mail', role: 'mail', state: 'exited' },
    ]);
    assert.equal(diff.apply[1]!.steps[0]!.kind, 'replace');
    await apply(diff, p);
    assert.equal(engine.containers.get('labctl-rc-s01-mail')!.state, 'running');
    assert.equal(engine.containers.get('labctl-rc-s02-sidecar')!.state, 'running');
  });

  it('a foreign object with a planned name, or a foreign container on a planned port, is a conflict', async () => {
    engine.networks.set('labctl-rc-s02', { name: 'labctl-rc-s02', labels: {} });
    engine.containers.set('web', {
      name: 'web',
      labels: {},
      image: 'nginx',
      state: 'running',
      ports: [{ container: 80, host: 10125 }],
    });
    const diff = await diffOf(await plan());
    assert.deepEqual(
      diff.conflicts.map((c) => c.code),
      ['port-taken', 'name-taken'],
    );
    assert.match(diff.conflicts[0]!.message, /port 10125 \(student 1, smtp\) is already published by container web/);
    assert.match(
      diff.conflicts[1]!.message,
      /network named labctl-rc-s02 already exists and does not belong to class rc/,
    );
  });

  it('a leftover of a killed run (an old server kept aside) is removed', async () => {
    const p = await plan();
    await apply(await diffOf(p), p);
    const mail = engine.containers.get('labctl-rc-s01-mail')!;
    engine.containers.set('labctl-rc-s01-mail-old-99', { ...mail, name: 'labctl-rc-s01-mail-old-99', state: 'exited' });
    const diff = await diffOf(p);
    assert.deepEqual(diff.apply[0]!.steps, [{ kind: 'remove', name: 'labctl-rc-s01-mail-old-99', role: 'mail' }]);
  });
});

describe('apply and rollback', () => {
  beforeEach(async () => {
    lab ??= await loadLab();
    engine = new FakeEngine();
  });

  it('a disk left unmounted (its host restarted) is mounted again before the volumes on it; nothing else changes', async () => {
    const p = await plan({ students: 2 });
    await apply(await diffOf(p), p);
    engine.disks.get('labctl-rc-s02-disk')!.mounted = false;
    engine.calls = [];
    const diff = await diffOf(p);
    assert.deepEqual(
      diff.apply.map((s) => [s.student, kinds(s.steps)]),
      [[2, ['create-disk']]],
    );
    assert.match(formatDiff(diff, p), /mount disk labctl-rc-s02-disk \(1 GiB\)/);
    await apply(diff, p);
    assert.deepEqual(engine.calls, ['mount-disk labctl-rc-s02-disk']);
  });

  it('a run that fails after mounting a disk it did not make leaves the disk (and the mail on it) in place', async () => {
    const p = await plan({ students: 1 });
    await apply(await diffOf(p), p);
    engine.disks.get('labctl-rc-s01-disk')!.mounted = false;
    await engine.stopWorkload('labctl-rc-s01-mail');
    engine.failOn = (call) => call === 'start labctl-rc-s01-mail';
    await assert.rejects(apply(await diffOf(p), p), /start labctl-rc-s01-mail failed/);
    assert.ok(engine.disks.has('labctl-rc-s01-disk'), 'the disk is still there');
    assert.ok(!engine.calls.includes('remove-disk labctl-rc-s01-disk'));
  });

  it('an engine that gives no disks gets plain volumes and no disk step; the same plan again changes nothing', async () => {
    engine.diskSupportAnswer = { ok: false, why: 'elsewhere' };
    const p = await plan({ students: 1 });
    const diff = await diffOf(p);
    assert.ok(!kinds(diff.apply[0]!.steps).includes('create-disk'));
    await apply(diff, p);
    assert.equal(engine.disks.size, 0);
    assert.match(formatDiff(await diffOf(p), p), /nothing to change/);
  });

  it('names the students whose volumes were made before disks were bounded', async () => {
    const p = await plan({ students: 2 });
    await apply(await diffOf(p), p);
    const spool = engine.volumes.get('labctl-rc-s02-spool')!;
    const { [LABEL.disk]: _, ...plain } = spool.labels;
    engine.volumes.set(spool.name, { ...spool, labels: plain });
    assert.deepEqual((await diffOf(p)).unbounded, [2]);
  });

  it('a failed first up removes everything it created, and only that', async () => {
    engine.volumes.set('other', { name: 'other', labels: { [LABEL.class]: 'other' } });
    const before = snapshot();
    const p = await plan({ students: 3 });
    engine.failOn = (call) => call === 'start labctl-rc-s03-sidecar';
    await assert.rejects(apply(await diffOf(p), p), /start labctl-rc-s03-sidecar failed/);
    assert.deepEqual(snapshot(), before);
  });

  it('a student that was running before the run keeps running, in its old configuration, when the run fails', async () => {
    const p = await plan({ students: 1 });
    await apply(await diffOf(p), p);
    const before = snapshot();
    // A new image for student 1, and a new student 2 that never gets ready.
    const p2 = await plan({ students: 2, mailImage: 'labctl/mail:two' });
    const ready = async (s: { student: number }) => {
      if (s.student === 2) throw new Error('student 2 never answers');
    };
    await assert.rejects(apply(await diffOf(p2), p2, ready as () => Promise<void>), /student 2 never answers/);
    assert.deepEqual(snapshot(), before);
    assert.equal(engine.containers.get('labctl-rc-s01-mail')?.image, 'labctl/mail:one');
  });

  it('a failure waits for the creations still under way before undoing, so none comes back after the rollback', async () => {
    const p = await plan({ students: 1 });
    const before = snapshot();
    // The sidecar fails to start while the mail server is still being created.
    engine.failOn = (call) => call === 'start labctl-rc-s01-sidecar';
    engine.delayOn = (call) => (call === 'create-container labctl-rc-s01-mail' ? 50 : 0);
    await assert.rejects(apply(await diffOf(p), p), /start labctl-rc-s01-sidecar failed/);
    // Had the rollback not waited, the mail server would appear now, once its slow creation ends.
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(snapshot(), before);
  });

  it('an abort (Ctrl-C) stops new work at once, lets what is in flight finish, then undoes it all', async () => {
    const p = await plan({ students: 2 });
    const stop = new AbortController();
    const before = snapshot();
    const diff = await diffOf(p);
    // Ctrl-C arrives while student 1's network is being created.
    engine.failOn = (call) => {
      if (call === 'create-network labctl-rc-s01') stop.abort(new Error('Ctrl-C'));
      return false;
    };
    const run = applyDiff(diff, p, engine, {
      concurrency: 1,
      timeoutSeconds: 5,
      signal: stop.signal,
      ready: () => Promise.resolve(),
    });
    await assert.rejects(run, /Ctrl-C/);
    assert.deepEqual(snapshot(), before);
    assert.ok(engine.calls.includes('create-network labctl-rc-s01'), 'what was in flight finished…');
    assert.ok(engine.calls.includes('remove-network labctl-rc-s01'), '…then was removed');
    assert.ok(!engine.calls.some((c) => c.startsWith('create-container')), 'no workload was created after the abort');
    assert.ok(!engine.calls.includes('create-network labctl-rc-s02'), 'student 2 was never started');
  });

  it('each student has the whole timeout from their own start, however long the queue before them', async () => {
    const p = await plan({ students: 3 });
    // One student at a time, each taking 80 ms to create: student 3 starts some 300 ms after the run.
    engine.delayOn = (call) => (call.startsWith('create-container') ? 80 : 0);
    const left: number[] = [];
    await applyDiff(await diffOf(p), p, engine, {
      concurrency: 1,
      timeoutSeconds: 0.2,
      signal: new AbortController().signal,
      ready: (_s, deadline) => {
        left.push(deadline() - Date.now());
        return Promise.resolve();
      },
    });
    assert.equal(left.length, 3);
    for (const ms of left) assert.ok(ms > 150, `a student had only ${ms} ms of its 200 left when it started`);
  });

  it('boots a few students at a time: none starts while that many are still waiting to answer', async () => {
    const p = await plan({ students: 5 });
    let booting = 0;
    let most = 0;
    await applyDiff(await diffOf(p), p, engine, {
      concurrency: 1,
      booting: 2,
      timeoutSeconds: 5,
      signal: new AbortController().signal,
      ready: async () => {
        most = Math.max(most, ++booting);
        await new Promise((r) => setTimeout(r, 30));
        booting--;
      },
    });
    assert.equal(most, 2, 'two students at most between their start and their answer');
    assert.equal(engine.containers.size, 10, 'and every student was started in the end');
  });

  it('a student started first is not given up on while classmates still start: the timeout runs from the last start', async () => {
    const p = await plan({ students: 3 });
    // One student at a time, 80 ms each: student 3 starts some 160 ms after student 1, a timeout of 100 ms.
    engine.delayOn = (call) => (call.startsWith('create-container') ? 80 : 0);
    const deadlines = new Map<number, () => number>();
    let first = 0;
    await applyDiff(await diffOf(p), p, engine, {
      concurrency: 1,
      timeoutSeconds: 0.1,
      signal: new AbortController().signal,
      ready: (s, deadline) => {
        if (s.student === 1) first = deadline();
        deadlines.set(s.student, deadline);
        return Promise.resolve();
      },
    });
    const last = deadlines.get(1)!();
    assert.ok(last - first > 100, `student 1's deadline moved ${last - first} ms while students 2 and 3 started`);
    assert.equal(last, deadlines.get(3)!(), 'every student now has the same end: 100 ms after the last start');
  });
});
