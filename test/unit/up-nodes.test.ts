import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { up } from '../../src/commands/up.js';
import { ExitCode, LabctlError } from '../../src/errors.js';
import { BASE, fakeClass, testContext } from '../helpers/fake-class.js';
import { FakeEngine } from '../helpers/fake-engine.js';

/**
 * `up` on an engine that places each student on one of several nodes (as Swarm does), through its Context: what the
 * instructor reads of where students connect, and of a node that is down.
 */
describe('up on an engine of several nodes', () => {
  let engine: FakeEngine;
  const HOST = '192.0.2.10';
  const upArgs = { className: 'nd', host: HOST, basePort: BASE };
  beforeEach(async () => {
    engine = new FakeEngine();
    engine.placesOnNodes = true;
    await fakeClass(engine, { className: 'nd', students: 2, host: HOST });
    for (const n of [1, 2])
      for (const role of ['mail', 'sidecar'])
        Object.assign(engine.containers.get(`labctl-nd-s0${n}-${role}`)!, {
          node: `198.51.100.${n}`,
          nodeName: `node${n}`,
        });
  });

  it("up's summary sends students to their node's address, as their cards do, not to --host", async () => {
    const t = testContext(engine);
    await up({ ...upArgs, students: 2 }, t.ctx);
    assert.match(
      t.stdout(),
      /, students connect to their node's address \(198\.51\.100\.1, 198\.51\.100\.2\): see `labctl info` or the cards\.\n/,
    );
    assert.doesNotMatch(t.stdout(), new RegExp(HOST.replace(/\./g, '\\.')));
  });

  it("up --dry-run says the same, and that a new student's node is chosen when they are made", async () => {
    const t = testContext(engine);
    await up({ ...upArgs, students: 3, dryRun: true }, t.ctx);
    assert.match(
      t.stdout(),
      /students connect to their node's address \(198\.51\.100\.1, 198\.51\.100\.2\), chosen when each is created: see `labctl info` or the cards\):/,
    );
    assert.doesNotMatch(t.stdout(), /students connect to 192\.0\.2\.10/);
  });

  it('a student whose node is down is named with their node at once (exit 6, node-lost), not waited for', async () => {
    for (const role of ['mail', 'sidecar'])
      Object.assign(engine.containers.get(`labctl-nd-s02-${role}`)!, { nodeLost: 'down', state: 'lost' });
    const t = testContext(engine);
    const started = Date.now();
    await assert.rejects(up({ ...upArgs, students: 2, timeout: 5 }, t.ctx), (error: unknown) => {
      assert.ok(error instanceof LabctlError, String(error));
      assert.deepEqual([error.exitCode, error.code], [ExitCode.notReady, 'node-lost']);
      assert.equal(error.message, 'node node2 is down: student 2 has no server.');
      return true;
    });
    assert.ok(Date.now() - started < 4000, `up took ${Date.now() - started} ms, the readiness timeout is 5 s`);
    // Nothing was asked of the lost student's workloads (a rollback would have stopped them for good).
    assert.deepEqual(
      engine.calls.filter((c) => c.includes('-s02-')),
      [],
    );
    assert.match(t.stdout(), /^Class nd is up: 2 students/m);
  });
});
