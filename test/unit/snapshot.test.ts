import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { snapshot } from '../../src/commands/snapshot.js';
import { up } from '../../src/commands/up.js';
import { ExitCode } from '../../src/errors.js';
import { BASE, fails, fakeClass, ports, testContext } from '../helpers/fake-class.js';
import { FakeEngine } from '../helpers/fake-engine.js';
import { greetAs } from '../helpers/greeters.js';

const workloads = (n: number) => [`labctl-sn-s0${n}-mail`, `labctl-sn-s0${n}-sidecar`];

/**
 * `labctl snapshot` and `up --replace-lost` through their Context, on a fake swarm: students 1 and 2 on node n2, which
 * is then lost. What the instructor reads, the exit codes, and what was asked of the engine.
 */
describe('snapshot, and up --replace-lost', () => {
  let engine: FakeEngine;
  const args = { className: 'sn', host: '192.0.2.10', basePort: BASE, students: 2 };
  beforeEach(async () => {
    engine = new FakeEngine();
    engine.placesOnNodes = true;
    await fakeClass(engine, { className: 'sn', students: 2 });
    for (const c of engine.containers.values()) Object.assign(c, { nodeName: 'n2' });
  });
  const lose = () => {
    for (const c of engine.containers.values()) Object.assign(c, { nodeLost: 'down', state: 'lost' });
  };

  it('on one host there is nothing to snapshot: a usage error, nothing copied', async () => {
    engine.placesOnNodes = false;
    await fails(snapshot({ className: 'sn' }, testContext(engine).ctx), ExitCode.usage, /runs on one Docker engine/);
    assert.deepEqual(engine.calls, []);
  });

  it('copies every student, and each answers again before snapshot ends', async () => {
    const closers = await Promise.all([1, 2].map((n) => greetAs(n, ports(n))));
    try {
      const t = testContext(engine);
      const result = await snapshot({ className: 'sn', timeout: 5 }, t.ctx);
      assert.deepEqual(
        engine.calls.sort(),
        [1, 2].map((n) => `snapshot ${workloads(n).join(' ')}`),
      );
      assert.match(
        t.stdout(),
        /^Snapshot of 2 student\(s\) of class sn on the manager in [\d.]+ s:\n {2}student 1: from n2, 0\.0 MiB in [\d.]+ s\n {2}student 2: from n2/,
      );
      assert.ok(result.students.every((r) => r.done && r.time));
    } finally {
      await Promise.all(closers.map((close) => close()));
    }
  });

  it('a student on a lost node gets no new snapshot: named with their node, exit 4, the others are copied', async () => {
    const closers = await Promise.all([greetAs(1, ports(1))]);
    try {
      for (const c of workloads(2)) Object.assign(engine.containers.get(c)!, { nodeLost: 'down', state: 'lost' });
      const t = testContext(engine);
      await fails(
        snapshot({ className: 'sn', timeout: 5 }, t.ctx),
        ExitCode.engine,
        /^1 of 2 student\(s\) have no new snapshot \(an older one, if any, is kept\):\n {2}student 2: no new snapshot: node n2 is down$/,
      );
      assert.deepEqual(engine.calls, [`snapshot ${workloads(1).join(' ')}`]);
    } finally {
      await Promise.all(closers.map((close) => close()));
    }
  });

  it('up --replace-lost starts the lost students elsewhere: from their snapshot, or empty, and says which', async () => {
    await snapshot({ className: 'sn', student: 1, timeout: 1 }, testContext(engine).ctx).catch(() => undefined);
    assert.ok(engine.volumes.has(`${workloads(1)[0]}-snap`), 'student 1 has a snapshot');
    lose();
    engine.calls = [];
    const closers = await Promise.all([1, 2].map((n) => greetAs(n, ports(n))));
    try {
      // Without --replace-lost: they are lost, exit 6, and the hint names --replace-lost.
      await fails(
        up({ ...args, timeout: 5 }, testContext(engine).ctx),
        ExitCode.notReady,
        /node n2 is down: students 1, 2 have no server/,
      );
      assert.equal(engine.calls.length, 0, 'nothing changed');
      const t = testContext(engine);
      await up({ ...args, timeout: 5, replaceLost: true }, t.ctx);
      assert.match(
        t.stderr(),
        /Student 2 starts again on another node with empty mailboxes and no progress: their node is lost and no snapshot of theirs exists/,
      );
      assert.match(
        t.stderr(),
        /Student 1 starts again on another node with their volumes as of their snapshot of \d{4}-\d\d-\d\dT/,
      );
      // Their workloads were removed and made again, and only student 1 was restored.
      for (const n of [1, 2])
        for (const w of workloads(n)) {
          assert.ok(engine.calls.includes(`remove-container ${w}`), `${w} removed: ${engine.calls.join(', ')}`);
          assert.ok(engine.containers.get(w) && !engine.containers.get(w)!.nodeLost, `${w} made again`);
        }
      assert.deepEqual(
        engine.calls.filter((c) => c.startsWith('restore')),
        [`restore ${workloads(1).join(' ')}`],
      );
      assert.match(
        t.stdout(),
        /Replaced on other nodes:\n {2}student 1: n2 \(down\) -> \?, mailboxes restored from their snapshot of \d{4}-[^\n]*\n {2}student 2: n2 \(down\) -> \?, mailboxes empty \(no snapshot\)/,
      );
    } finally {
      await Promise.all(closers.map((close) => close()));
    }
  });
});
