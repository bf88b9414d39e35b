import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { board } from '../../src/commands/board.js';
import { build } from '../../src/commands/build.js';
import { imagesLoad, imagesSave } from '../../src/commands/images.js';
import { init } from '../../src/commands/init.js';
import { logs } from '../../src/commands/logs.js';
import { reset } from '../../src/commands/reset.js';
import { LABEL } from '../../src/core/labels.js';
import { diagnose, type HostFacts, type SwarmFacts } from '../../src/core/doctor.js';
import { ExitCode, LabctlError } from '../../src/errors.js';
import { fails, fakeClass, testContext } from '../helpers/fake-class.js';
import { FakeEngine } from '../helpers/fake-engine.js';

const until = async (ok: () => boolean) => {
  while (!ok()) await new Promise((r) => setTimeout(r, 5));
};

/** The teaching assistant's and the image commands through their Context, against the fake engine. */
describe("a TA's commands, through their context", () => {
  let engine: FakeEngine;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-tools-'));
    process.env.LABCTL_DATA_DIR = dir;
  });
  after(async () => {
    delete process.env.LABCTL_DATA_DIR;
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    engine = new FakeEngine();
    await fakeClass(engine, { className: 'ct', students: 2 });
  });

  it('reset asks first: off a terminal it wants --yes, and runs nothing without it', async () => {
    await fails(reset({ className: 'ct', student: 1 }, testContext(engine).ctx), 2, /This would delete all mail/);
    assert.deepEqual(engine.calls, []);
    await fails(reset({ className: 'ct' }, testContext(engine).ctx), 2, /--student N .* or --all/);
    await fails(reset({ className: 'ct', all: true, user: 'util1' }, testContext(engine).ctx), 2, /--user goes/);
    await fails(reset({ className: 'ct', student: 3, yes: true }, testContext(engine).ctx), 2, /no student 3/);
  });

  it('reset --student N empties every account of that student, in their environment, and says what went', async () => {
    const t = testContext(engine);
    const result = await reset({ className: 'ct', student: 2, yes: true }, t.ctx);
    assert.deepEqual(engine.calls, ['maintenance accounts labctl-ct-s02-mail', 'maintenance reset labctl-ct-s02-mail']);
    assert.deepEqual(
      result.students[0]!.accounts.map((a) => a.user),
      ['util1', 'util11'],
    );
    assert.match(t.stdout(), /student 2 {2}util1 +removed 0 from the spool, 0 from Maildir, 0 from ~\/mbox/);
    assert.match(t.stdout(), /Progress kept \(add --progress to clear it\)\./);
  });

  it('reset --hard holds the class lock as `reset --hard`, the name a run waiting for it reads', async () => {
    const t = testContext(engine);
    const holders = new Set<string>();
    engine.onCall = () => {
      for (const lock of engine.locks.values()) holders.add(lock.labels[LABEL.lockCommand]!);
      if (holders.size && engine.calls.some((c) => c.startsWith('start '))) t.interrupt(); // seen: no need to wait
    };
    await fails(reset({ className: 'ct', student: 2, hard: true, yes: true }, t.ctx), ExitCode.interrupted, /undone/);
    assert.deepEqual([...holders], ['reset --hard']);
    assert.equal(engine.locks.size, 0, 'the lock is given back');
  });

  it('reset --backup keeps each backup for its owner only, even when the reset then fails', async () => {
    engine.maintenanceAnswer = (_mail, task) =>
      task.action === 'accounts'
        ? { exitCode: 0, stdout: 'util1\n', stderr: '' }
        : { exitCode: 1, stdout: '', stderr: 'util1: stopped halfway', backup: Buffer.from('tar of util1') };
    const t = testContext(engine);
    const error = await reset({ className: 'ct', student: 1, backup: true, yes: true }, t.ctx).then(
      () => assert.fail('the reset failed'),
      (e: LabctlError) => e,
    );
    assert.equal(error.exitCode, ExitCode.engine);
    const saved = /backed up in (\S+)\.$/m.exec(error.message)?.[1];
    assert.ok(saved && saved.startsWith(dir), error.message);
    assert.equal(await readFile(saved, 'utf8'), 'tar of util1');
    assert.equal((await stat(saved)).mode & 0o777, 0o600);
    assert.equal((await stat(path.dirname(saved))).mode & 0o777, 0o700);
  });

  it('logs prints the student log from --since on; --follow ends cleanly on Ctrl-C', async () => {
    engine.mailLog = [
      '2026-11-26T09:00:00+00:00 mail postfix/smtpd[1]: connect from old[10.0.0.1]',
      '2026-11-26T10:00:00+00:00 mail postfix/smtpd[2]: connect from new[10.0.0.2]',
      '',
    ].join('\n');
    const t = testContext(engine);
    await logs({ className: 'ct', student: 1, since: '2026-11-26T09:30:00Z' }, t.ctx);
    assert.equal(t.stdout(), '2026-11-26T10:00:00+00:00 mail postfix/smtpd[2]: connect from new[10.0.0.2]\n');
    assert.deepEqual(engine.asked, ['ping', 'list', 'streamLog labctl-ct-s01-mail']);
    const f = testContext(engine);
    const following = logs({ className: 'ct', student: 2, follow: true }, f.ctx);
    await until(() => f.stdout().includes('new[10.0.0.2]'));
    f.interrupt();
    await following;
    await fails(logs({ className: 'ct', student: 1, since: 'yesterday' }, testContext(engine).ctx), 2, /not a time/);
  });

  it('board serves the class until Ctrl-C, which stops it cleanly', async () => {
    const t = testContext(engine);
    const server = await board({ className: 'ct', port: 0, interval: 60_000 }, t.ctx);
    const port = (server.address() as { port: number }).port;
    assert.match(t.stdout(), new RegExp(`^Class board for ct: http://127\\.0\\.0\\.1:${port}/\\n`));
    const answer = await fetch(`http://127.0.0.1:${port}/api/board`);
    assert.equal(answer.status, 200);
    assert.equal(((await answer.json()) as { students: unknown[] }).students.length, 2);
    const closed = new Promise((r) => server.on('close', r));
    t.interrupt();
    await closed;
  });
});

describe('image and class-file commands, through their context', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-images-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('build makes the missing images and names them; images save then load carries them to another engine', async () => {
    const engine = new FakeEngine();
    const t = testContext(engine);
    const images = await build({}, t.ctx);
    assert.ok(engine.images.has(images.mail) && engine.images.has(images.sidecar));
    assert.match(t.stdout(), /Images ready:\n {2}base +labctl\/base:bookworm\n {2}mail +labctl\/mail:/);
    const file = path.join(dir, 'images.tar');
    const saved = await imagesSave({ output: file }, testContext(engine).ctx);
    assert.equal(saved.bytes, (await stat(file)).size);
    const hint = testContext(engine);
    await imagesSave({ output: file }, hint.ctx);
    assert.match(hint.stdout(), /On each Swarm node: DOCKER_HOST=ssh:\/\/root@NODE labctl images load .*images\.tar\n/);
    assert.match(hint.stdout(), /DOCKER_HOST=tcp:\/\/NODE:2375 \(anyone who reaches that port is root on the node/);
    const other = new FakeEngine();
    const loaded = await imagesLoad({ file }, testContext(other).ctx);
    assert.deepEqual(loaded, [images.mail, images.sidecar]);
    await fails(imagesLoad({ file: path.join(dir, 'none.tar') }, testContext(other).ctx), 2, /No archive at/);
  });

  it('init writes the class file, and replaces one only with --force (off a terminal)', async () => {
    const file = path.join(dir, 'labctl.yaml');
    const t = testContext(new FakeEngine());
    await init({ output: file, className: 'ci', students: 4, host: '192.0.2.7' }, t.ctx);
    assert.match(await readFile(file, 'utf8'), /class: ci\nstudents: 4\n/);
    assert.match(t.stdout(), /Wrote .*labctl\.yaml: class ci, 4 students/);
    await fails(init({ output: file }, testContext(new FakeEngine()).ctx), 2, /already exists; nothing was written/);
    await writeFile(file, 'kept');
    const refused = testContext(new FakeEngine(), {
      interactive: true,
      prompt: () => Promise.resolve({ ok: false }),
    });
    await fails(init({ output: file }, refused.ctx), 2, /Cancelled; nothing was written/);
    assert.equal(await readFile(file, 'utf8'), 'kept');
  });
});

describe('doctor, on the fake engine', () => {
  const host = (swarm?: SwarmFacts, inotify?: number): HostFacts => ({
    bootstrapTool: undefined,
    disksDir: '/var/lib/labctl/disks',
    swarm: () => Promise.resolve(swarm),
    forwarding: () => ({ mode: 'kernel', source: 'dockerd --userland-proxy=false', proxies: 0, proxyKiB: 0 }),
    inotifyInstances: () => inotify,
  });

  it('checks the engine, its pools, the disk bound and port forwarding, and says how to fix what is missing', async () => {
    const engine = new FakeEngine();
    const checks = await diagnose(engine, host());
    assert.deepEqual(
      checks.map((c) => c.check),
      ['docker engine', 'disk space', 'base image', 'address pool', 'disk bound', 'port forwarding', 'bootstrap tool'],
    );
    const base = checks.find((c) => c.check === 'base image')!;
    assert.deepEqual([base.ok, base.fix], [false, 'labctl build (it pulls or bootstraps it)']);
    assert.equal(checks.find((c) => c.check === 'bootstrap tool')!.ok, false, 'no tool and no base image');
    engine.diskSupportAnswer = { ok: false, why: 'the Docker engine is on another host (DOCKER_HOST)' };
    const unbounded = (await diagnose(engine, host())).find((c) => c.check === 'disk bound')!;
    assert.deepEqual([unbounded.ok, unbounded.warning], [false, true]);
    assert.match(unbounded.detail, /^not bounded: the Docker engine is on another host/);
  });

  it("warns when the host's inotify limit leaves big classes' sidecars polling, and says how to raise it", async () => {
    const low = (await diagnose(new FakeEngine(), host(undefined, 128))).find((c) => c.check === 'inotify instances')!;
    assert.deepEqual([low.ok, low.warning], [false, true]);
    assert.match(low.detail, /^128 per user: past about 120 students in all, sidecars poll twice a second/);
    assert.match(low.fix!, /sysctl -w fs\.inotify\.max_user_instances=1024/);
    const raised = (await diagnose(new FakeEngine(), host(undefined, 1024))).find(
      (c) => c.check === 'inotify instances',
    )!;
    assert.deepEqual([raised.ok, raised.warning], [true, undefined]);
  });

  it('names the swarm nodes, and warns when the node is a worker', async () => {
    const worker = await diagnose(new FakeEngine(), host({ state: 'active', manager: false, nodes: [] }));
    const swarm = worker.find((c) => c.check === 'swarm')!;
    assert.deepEqual([swarm.ok, swarm.warning, swarm.detail], [false, true, 'a worker: run labctl on a manager']);
  });
});
