import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LABEL } from '../../src/core/labels.js';
import { LazyEngine } from '../../src/docker/lazy-engine.js';
import { selectEngine } from '../../src/docker/select-engine.js';
import { LabctlError } from '../../src/errors.js';
import { FakeEngine } from '../helpers/fake-engine.js';

/** An engine of another kind: its own place and parallelism. */
const manyNodes = () => Object.assign(new FakeEngine(), { where: 'swarm://manager', parallelism: 16 });

describe('the engine chosen at the first call', () => {
  it('answers the Swarm engine’s parallelism when Swarm is asked for, not the local engine’s', () => {
    const engine = selectEngine({ labels: LABEL, engine: 'swarm' });
    assert.equal(engine.parallelism, 16);
    assert.match(engine.where, /^Swarm at /);
    assert.equal(selectEngine({ labels: LABEL, engine: 'local' }).parallelism, 4);
  });

  it('chooses once, at the first call, and every field answers from the chosen engine from then on', async () => {
    const chosen = manyNodes();
    let choices = 0;
    const engine = new LazyEngine({
      provisional: new FakeEngine(),
      choose: () => {
        choices++;
        return Promise.resolve(chosen);
      },
    });
    assert.equal(engine.parallelism, 4);
    assert.equal(engine.where, 'fake://');
    assert.equal(choices, 0, 'reading a field asks no engine');
    await Promise.all([engine.ping(), engine.createNetwork('n1', {}), engine.list()]);
    assert.equal(choices, 1);
    assert.equal(engine.parallelism, 16);
    assert.equal(engine.where, 'swarm://manager');
    assert.deepEqual(chosen.calls, ['create-network n1']);
  });

  it('gives a refused choice to every call', async () => {
    const engine = new LazyEngine({
      provisional: new FakeEngine(),
      choose: () => Promise.reject(new LabctlError(2, 'Class td1 runs on Swarm')),
    });
    await assert.rejects(engine.ping(), /runs on Swarm/);
    await assert.rejects(engine.list('td1'), /runs on Swarm/);
  });

  it('lists through the choice’s own listing when it has one (every class of both engines)', async () => {
    const chosen = new FakeEngine();
    const engine = new LazyEngine({
      provisional: new FakeEngine(),
      choose: () => Promise.resolve(chosen),
      list: (e, className) =>
        Promise.resolve({
          containers: [],
          networks: [{ name: `${String(e === chosen)} ${className}`, labels: {} }],
          volumes: [],
          disks: [],
        }),
    });
    assert.deepEqual((await engine.list('td1')).networks, [{ name: 'true td1', labels: {} }]);
  });
});
