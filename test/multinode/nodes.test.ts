/**
 * A class on a real three-node swarm (Docker engines in containers on this machine, test/helpers/swarm-nodes.ts),
 * driven as an instructor drives one: labctl on the manager's DOCKER_HOST=tcp://…, images carried with `images
 * save` and `images load`. Run by `npm test` (beside the integration suite) and `npm run test:multinode`.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import type { Board } from '../../src/core/board-model.js';
import type { ClassInfo } from '../../src/core/class-model.js';
import { labctl, labctlCtrlC, labctlJson } from '../helpers/cli.js';
import { freeBasePort } from '../helpers/ports.js';
import { Session, SMTP_FINAL } from '../helpers/session.js';
import { classBoard, doneIds } from '../helpers/td.js';
import { nodeState, startTestSwarm, testSwarmUnavailable, type TestSwarm } from '../helpers/swarm-nodes.js';

const skip = testSwarmUnavailable();

describe('a class on a three-node swarm', { timeout: 1_800_000, skip }, () => {
  let swarm: TestSwarm;
  let dir = '';
  let info: ClassInfo;
  let base = 0;
  const CLASS = `mn${process.pid}`;
  const on = (args: string[]) => labctl(args, undefined, swarm.env);
  /** doctor's rows for the swarm's nodes, as `doctor --json` gives them (its exit code is the host's business). */
  const doctorNodes = async () => {
    const doctor = await on(['doctor', '--json']);
    const rows = JSON.parse(doctor.stdout) as { check: string; ok: boolean; detail: string }[];
    return rows.filter((r) => r.check.startsWith('node ')).sort((a, b) => a.check.localeCompare(b.check));
  };
  const upArgs = () => ['up', '--engine', 'swarm', '--students', '3', '--class', CLASS, '--base-port', String(base)];
  const timed = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
    const start = Date.now();
    const result = await run();
    console.log(`# ${what}: ${((Date.now() - start) / 1000).toFixed(1)} s`);
    return result;
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-nodes-'));
    const built = await labctlJson<{ mail: string }>(['build']);
    assert.ok(built.mail);
    swarm = await timed('three engines in containers, made a swarm', () => startTestSwarm(3));
  });
  after(async () => {
    await swarm?.remove();
    await rm(dir, { recursive: true, force: true });
  });

  it('images save here, then images load into every node, by its DOCKER_HOST', async () => {
    const archive = path.join(dir, 'images.tar');
    const saved = await labctl(['images', 'save', '-o', archive]);
    assert.equal(saved.code, 0, saved.stderr);
    await timed('images load into three nodes', async () => {
      for (const node of swarm.nodes) {
        const loaded = await labctl(['images', 'load', archive], undefined, node.env);
        assert.equal(loaded.code, 0, loaded.stderr);
        assert.match(loaded.stdout + loaded.stderr, /labctl\/mail:\w+/);
      }
    });
  });

  it('up spreads three students over the three nodes, and each card gives their node', async () => {
    base = await freeBasePort(3);
    const up = await timed('up --engine swarm --students 3', () => on(upArgs()));
    assert.equal(up.code, 0, up.stdout + up.stderr);
    info = JSON.parse((await on(['info', '--class', CLASS, '--json'])).stdout) as ClassInfo;
    const hosts = info.students.map((s) => s.host).sort();
    assert.deepEqual(hosts, swarm.nodes.map((n) => n.address).sort());
    // up's summary and its dry run send students where their cards do: their node's address, and say so.
    const said = (out: string) =>
      /students connect to their node's address \(([^)]*)\): see `labctl info` or the cards/.exec(out)?.[1];
    assert.deepEqual(said(up.stdout)?.split(', ').sort(), hosts, up.stdout);
    const dry = await on([...upArgs(), '--dry-run']);
    assert.match(dry.stdout, /nothing to change/);
    assert.deepEqual(said(dry.stdout)?.split(', ').sort(), hosts, dry.stdout);
  });

  it("doctor lists every node: role, state, availability, labctl's images, free disk, room on docker_gwbridge", async () => {
    const rows = await doctorNodes();
    assert.deepEqual(
      rows.map((r) => r.check),
      swarm.nodes.map((n) => `node ${n.name}`),
    );
    for (const [i, row] of rows.entries()) {
      const node = swarm.nodes[i]!;
      assert.match(
        row.detail,
        new RegExp(
          `^${i === 0 ? 'manager' : 'worker'}, ready, active, ${node.address.replace(/\./g, '\\.')}; labctl's images: mail, sidecar as on the manager; ` +
            `[\\d.]+ [GT]iB free in /var/lib/docker; docker_gwbridge [\\d.]+/24: \\d+ of 254 addresses used, room for \\d+ more students$`,
        ),
      );
      assert.equal(row.ok, true, row.detail);
    }
  });

  it('Ctrl-C while doctor asks the nodes: it ends with 130 and leaves none of its jobs on the swarm', async () => {
    const jobs = () => swarm.manager.docker.listServices({ filters: { label: ['dev.labctl.job=doctor'] } });
    const r = await labctlCtrlC(['doctor'], async () => (await jobs()).length > 0, swarm.env);
    assert.equal(r.code, 130, r.stdout + r.stderr);
    assert.match(r.stderr, /Interrupted\./);
    assert.deepEqual(
      (await jobs()).map((j) => j.Spec?.Name),
      [],
    );
  });

  it("each student's SMTP greets on their node's address, and their message is credited", async () => {
    for (const s of info.students) {
      const session = await Session.open(s.ports.smtp!, s.host);
      try {
        assert.match((await session.read(SMTP_FINAL))[0]!, /^220 mail\.s0\d\..* ESMTP Postfix/);
        assert.match(await session.say('helo pv', SMTP_FINAL), /^250 /);
        assert.match(await session.say('mail from: president@u-picardie.fr', SMTP_FINAL), /^250 /);
        assert.match(await session.say(`rcpt to: util${s.student}`, SMTP_FINAL), /^250 /);
        assert.match(await session.say('data', SMTP_FINAL), /^354 /);
        for (const line of ['Subject: test', '', `test du noeud ${s.host}`, '']) session.type(line);
        assert.match(await session.say('.', SMTP_FINAL), /^250 2\.0\.0 Ok: queued as /);
        await session.say('quit', SMTP_FINAL);
      } finally {
        session.close();
      }
    }
    const credited = (board: Board) => info.students.every((s) => doneIds(board, s.student).includes('smtp-simple'));
    let board: Board | undefined;
    for (let i = 0; i < 60 && !(board && credited(board)); i++) {
      if (board) await new Promise((r) => setTimeout(r, 500));
      board = await classBoard(CLASS, [], swarm.env);
    }
    assert.ok(
      board && credited(board),
      JSON.stringify(board?.students.map((s) => [s.student, doneIds(board!, s.student)])),
    );
  });

  it('a worker is lost: status and check name it and its student, exit 6, and up does not say nothing to change', async () => {
    const worker = swarm.nodes[2]!;
    const student = info.students.find((s) => s.host === worker.address)!.student;
    const lostAt = Date.now();
    await worker.stop();
    // Until the manager marks the node down, its student's ports just do not answer (exit 6, no-server); then
    // status names the node.
    const named = new RegExp(`node ${worker.name} is down`);
    let status = await on(['status', '--class', CLASS]);
    while (!named.test(status.stderr) && Date.now() - lostAt < 120_000) status = await on(['status', '--class', CLASS]);
    console.log(`# from the node's loss to status naming it: ${((Date.now() - lostAt) / 1000).toFixed(1)} s`);
    assert.equal(await nodeState(swarm.manager.docker, worker.name), 'down');
    assert.equal(status.code, 6, status.stdout + status.stderr);
    assert.match(
      status.stdout,
      new RegExp(`^${CLASS} .* ${student} +${worker.address} +${worker.name} \\(down\\) +lost +lost .*DOWN$`, 'm'),
    );
    assert.match(status.stderr, new RegExp(`node ${worker.name} is down: student ${student} has no server\\.`));
    const check = await on(['check', '--class', CLASS]);
    assert.equal(check.code, 6, check.stdout + check.stderr);
    assert.match(check.stderr, new RegExp(`node ${worker.name} is down: student ${student} has no server\\.`));
    const dry = await on([...upArgs(), '--dry-run']);
    assert.doesNotMatch(dry.stdout, /nothing to change/);
    assert.match(dry.stdout, new RegExp(`start mail labctl-${CLASS}-s0${student}-mail \\(lost\\)`));
    // A real up does not wait out its timeout for that student: it names the node and them, exit 6.
    const upAt = Date.now();
    const up = await on([...upArgs(), '--timeout', '60']);
    const took = Date.now() - upAt;
    console.log(`# up with a node down: ${(took / 1000).toFixed(1)} s (--timeout 60)`);
    assert.equal(up.code, 6, up.stdout + up.stderr);
    assert.match(up.stderr, new RegExp(`node ${worker.name} is down: student ${student} has no server\\.`));
    assert.ok(took < 30_000, `up took ${took} ms`);
    // doctor lists the node as down, without waiting for it.
    const doctorAt = Date.now();
    const rows = await doctorNodes();
    assert.ok(Date.now() - doctorAt < 60_000, `doctor took ${Date.now() - doctorAt} ms`);
    const down = rows.find((r) => r.check === `node ${worker.name}`);
    assert.equal(down?.detail, `worker, down, active, ${worker.address}; not asked: the node is down`);
    assert.equal(down?.ok, false);
  });

  it('the worker comes back: its student has their server and their credit again', async () => {
    const worker = swarm.nodes[2]!;
    const student = info.students.find((s) => s.host === worker.address)!.student;
    const backAt = Date.now();
    await worker.start();
    let status = await on(['status', '--class', CLASS]);
    while (status.code !== 0 || !/ up$/m.test(status.stdout.split('\n').find((l) => l.includes(worker.name)) ?? '')) {
      assert.ok(Date.now() - backAt < 240_000, status.stdout + status.stderr);
      status = await on(['status', '--class', CLASS]);
    }
    console.log(`# from the node's return to its student up: ${((Date.now() - backAt) / 1000).toFixed(1)} s`);
    const board = await classBoard(CLASS, [], swarm.env);
    assert.ok(doneIds(board, student).includes('smtp-simple'), JSON.stringify(doneIds(board, student)));
    const up = await on(upArgs());
    assert.equal(up.code, 0, up.stdout + up.stderr);
  });

  it('down, then down --purge with a worker down: it removes what it can, names the node, and finishes once it is back', async () => {
    const before = await Promise.all(swarm.nodes.map((n) => classVolumes(n.docker, CLASS)));
    assert.ok(
      before.every((names) => names.length > 0),
      `each node holds volumes: ${before.map((v) => v.length).join(', ')}`,
    );
    // A plain down takes the services, and with them the manager's only view of the workers' volumes.
    const down = await on(['down', '--class', CLASS]);
    assert.equal(down.code, 0, down.stdout + down.stderr);
    const worker = swarm.nodes[2]!;
    await worker.stop();
    for (const at = Date.now(); (await nodeState(swarm.manager.docker, worker.name)) !== 'down';) {
      assert.ok(Date.now() - at < 120_000, `the manager still sees ${worker.name} up`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const partial = await timed('down --purge --yes, a worker down', () =>
      on(['down', '--class', CLASS, '--purge', '--yes']),
    );
    assert.equal(partial.code, 6, partial.stdout + partial.stderr);
    const reachable = before[0]!.length + before[1]!.length;
    assert.match(
      partial.stdout,
      new RegExp(`^Removed 0 containers and 0 networks, ${reachable} volumes and 0 disks of `),
    );
    assert.match(
      partial.stderr,
      new RegExp(
        `Not everything was purged:\\n  node ${worker.name} could not be asked for its volumes \\(it is down\\)`,
      ),
    );
    const middle = await Promise.all(swarm.nodes.slice(0, 2).map((n) => classVolumes(n.docker, CLASS)));
    assert.deepEqual(middle, [[], []]);
    await worker.start();
    for (const at = Date.now(); (await nodeState(swarm.manager.docker, worker.name)) !== 'ready';) {
      assert.ok(Date.now() - at < 120_000, `the manager does not see ${worker.name} back`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const rest = await timed('down --purge --yes, the worker back', () =>
      on(['down', '--class', CLASS, '--purge', '--yes']),
    );
    assert.equal(rest.code, 0, rest.stdout + rest.stderr);
    assert.match(rest.stdout, new RegExp(`, ${before[2]!.length} volumes and 0 disks of `));
    const left = await Promise.all(swarm.nodes.map((n) => classVolumes(n.docker, CLASS)));
    assert.deepEqual(
      left.map((names, i) => [swarm.nodes[i]!.name, names]),
      swarm.nodes.map((n) => [n.name, []]),
    );
  });
});

async function classVolumes(docker: Docker, className: string): Promise<string[]> {
  const list = await docker.listVolumes({ filters: { label: [`dev.labctl.class=${className}`] } });
  return (list.Volumes ?? []).map((v) => v.Name).sort();
}
