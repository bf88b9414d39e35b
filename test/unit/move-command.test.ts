import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { move } from '../../src/commands/move.js';
import type { EngineNode } from '../../src/docker/engine.js';
import { ExitCode, LabctlError } from '../../src/errors.js';
import { fails, fakeClass, ports, testContext } from '../helpers/fake-class.js';
import { FakeEngine } from '../helpers/fake-engine.js';
import { greetAs } from '../helpers/greeters.js';

const node = (name: string, state = 'ready', availability = 'active', students = 0): EngineNode => ({
  id: `${name}-0123456789`,
  name,
  address: `10.9.0.${name.slice(1)}`,
  state,
  availability,
  students,
});
const workloads = (n: number) => [`labctl-mv-s0${n}-mail`, `labctl-mv-s0${n}-sidecar`];

/** `labctl move` through its Context, on a fake swarm of four nodes: n1 holds both students, n3 is down, n4 drained. */
describe('move, through its context', () => {
  let engine: FakeEngine;
  beforeEach(async () => {
    engine = new FakeEngine();
    await fakeClass(engine, { className: 'mv', students: 2 });
    engine.nodeList = [node('n1', 'ready', 'active', 2), node('n2'), node('n3', 'down'), node('n4', 'ready', 'drain')];
    for (const c of engine.containers.values()) c.nodeName = 'n1';
  });
  const sleeping = () => {
    for (const c of engine.containers.values()) c.state = 'exited';
  };
  const nodeOf = (n: number) => engine.containers.get(workloads(n)[0]!)!.nodeName;

  it('a class on one host: a usage error, nothing moves', async () => {
    engine.nodeList = undefined;
    await fails(
      move({ className: 'mv', student: 1, to: 'n2' }, testContext(engine).ctx),
      ExitCode.usage,
      /runs on one Docker engine/,
    );
    assert.deepEqual(engine.calls, []);
  });

  it('an unknown node, the same node, no such student, nobody named: usage errors (exit 2), nothing moves', async () => {
    await fails(
      move({ className: 'mv', student: 1, to: 'nowhere' }, testContext(engine).ctx),
      ExitCode.usage,
      /^--to nowhere: no such node in the swarm\.$/,
    );
    await fails(
      move({ className: 'mv', student: 1, to: 'n1' }, testContext(engine).ctx),
      ExitCode.usage,
      /^Student 1 is on node n1 already\.$/,
    );
    await fails(
      move({ className: 'mv', from: 'n1', to: 'n1' }, testContext(engine).ctx),
      ExitCode.usage,
      /same node, n1/,
    );
    await fails(
      move({ className: 'mv', student: 9, to: 'n2' }, testContext(engine).ctx),
      ExitCode.usage,
      /no student 9/,
    );
    await fails(
      move({ className: 'mv', to: 'n2' }, testContext(engine).ctx),
      ExitCode.usage,
      /--student N, or --from NODE/,
    );
    await fails(
      move({ className: 'mv', from: 'elsewhere' }, testContext(engine).ctx),
      ExitCode.usage,
      /--from elsewhere: no such node/,
    );
    assert.deepEqual(engine.calls, []);
    assert.equal(nodeOf(1), 'n1');
  });

  it('a node that is down or drained takes nobody: exit 4, node-unavailable, nothing moves', async () => {
    for (const [to, why] of [
      ['n3', 'is down'],
      ['n4', 'is drained'],
    ]) {
      await assert.rejects(move({ className: 'mv', student: 1, to }, testContext(engine).ctx), (error: unknown) => {
        assert.ok(error instanceof LabctlError);
        assert.equal(error.exitCode, ExitCode.engine);
        assert.equal(error.code, 'node-unavailable');
        assert.equal(error.message, `Node ${to} ${why}: no student can move there.`);
        return true;
      });
    }
    assert.deepEqual(engine.calls, []);
  });

  it('a stopped student moves (nothing to wait for), then their old copies go', async () => {
    sleeping();
    const t = testContext(engine);
    const result = await move({ className: 'mv', student: 1, to: 'n2' }, t.ctx);
    assert.deepEqual(engine.calls, [
      `move ${workloads(1).join(' ')} n2-0123456789`,
      `commit-move ${workloads(1).join(' ')}`,
    ]);
    assert.match(
      t.stdout(),
      /^Moved 1 student\(s\) of class mv in [\d.]+ s:\n {2}student 1: n1 -> n2, 0\.0 MiB in [\d.]+ s$/m,
    );
    assert.equal(result.students[0]!.moved, true);
    assert.equal(nodeOf(1), 'n2');
  });

  it('a running student is waited for on the new node: their old copies go only once every service answers', async () => {
    const stop = await greetAs(1, ports(1));
    try {
      await move({ className: 'mv', student: 1, to: 'n2' }, testContext(engine).ctx);
    } finally {
      await stop();
    }
    assert.deepEqual(engine.calls, [
      `move ${workloads(1).join(' ')} n2-0123456789`,
      `commit-move ${workloads(1).join(' ')}`,
    ]);
  });

  it('a running student who does not answer on the new node goes back, old copies kept: exit 6', async () => {
    await fails(
      move({ className: 'mv', student: 1, to: 'n2', timeout: 1 }, testContext(engine).ctx),
      ExitCode.notReady,
      /^Student 1 was not moved: it did not answer on n2, so it stays on n1: /,
    );
    assert.deepEqual(engine.calls, [
      `move ${workloads(1).join(' ')} n2-0123456789`,
      `undo-move ${workloads(1).join(' ')}`,
    ]);
    assert.equal(nodeOf(1), 'n1');
  });

  it('Ctrl-C during the copy: the student goes back where they were, nothing of theirs is removed (exit 130)', async () => {
    sleeping();
    const t = testContext(engine);
    const moveWorkloads = engine.moveWorkloads.bind(engine);
    engine.moveWorkloads = async (names, to) => {
      const moved = await moveWorkloads(names, to);
      t.interrupt();
      return moved;
    };
    await fails(
      move({ className: 'mv', student: 1, to: 'n2' }, t.ctx),
      ExitCode.interrupted,
      /^Student 1 was not moved: interrupted during the copy\.$/,
    );
    assert.deepEqual(engine.calls, [
      `move ${workloads(1).join(' ')} n2-0123456789`,
      `undo-move ${workloads(1).join(' ')}`,
    ]);
    assert.equal(nodeOf(1), 'n1');
  });

  it('--from drains a node: each student goes to the ready, active node with the fewest students', async () => {
    sleeping();
    engine.nodeList!.push(node('n5'));
    const result = await move({ className: 'mv', from: 'n1' }, testContext(engine).ctx);
    assert.deepEqual(
      result.students.map((r) => [r.student, r.from, r.to, r.moved]),
      [
        [1, 'n1', 'n2', true],
        [2, 'n1', 'n5', true],
      ],
    );
  });

  it("without --to, a node that does not meet the class's constraints is passed over for the next one", async () => {
    sleeping();
    engine.nodeList!.push(node('n5', 'ready', 'active', 1));
    engine.unplaceable.add('n2');
    const result = await move({ className: 'mv', from: 'n1' }, testContext(engine).ctx);
    assert.deepEqual(
      result.students.map((r) => [r.student, r.to, r.moved]),
      [
        [1, 'n5', true],
        [2, 'n5', true],
      ],
    );
    // Named with --to, it is refused: exit 2, code placement, and the student stays.
    engine.unplaceable.add('n1');
    await assert.rejects(move({ className: 'mv', student: 1, to: 'n1' }, testContext(engine).ctx), (error: unknown) => {
      assert.ok(error instanceof LabctlError);
      assert.deepEqual([error.exitCode, error.code], [ExitCode.usage, 'placement']);
      assert.match(error.message, /^Student 1 was not moved: Node n1 does not meet the class's placement constraint/);
      return true;
    });
    assert.equal(nodeOf(1), 'n5');
  });
});
