import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyDiff } from '../../src/core/apply.js';
import { removeObjects } from '../../src/core/class-down.js';
import { observe } from '../../src/core/class-up.js';
import { loadLab } from '../../src/core/lab.js';
import { LABEL } from '../../src/core/labels.js';
import { planClass } from '../../src/core/plan.js';
import { reconcile } from '../../src/core/reconcile.js';
import { FakeEngine } from '../helpers/fake-engine.js';

describe('down (removeObjects) against a fake engine', () => {
  // The engine's own parallelism, not a setting of the shell the tests run in.
  delete process.env.LABCTL_CONCURRENCY;
  it('removes every object of the class, working on at most the engine parallelism students at once', async () => {
    const engine = new FakeEngine();
    const plan = await planClass(await loadLab(), {
      className: 'dn',
      students: 10,
      basePort: 10000,
      host: '192.0.2.10',
      bind: '0.0.0.0',
      mailImage: 'labctl/mail:one',
      sidecarImage: 'labctl/sidecar:one',
      token: 'secret-token',
      passwords: 'lab',
    });
    const diff = reconcile(plan, await observe(engine, 'dn'), { prune: false });
    const signal = new AbortController().signal;
    await applyDiff(diff, plan, engine, { concurrency: 4, timeoutSeconds: 5, signal, ready: () => Promise.resolve() });
    assert.equal(engine.containers.size, 20);

    // Each removal takes a while; count the students with a removal under way.
    const busy = new Map<string, number>();
    let most = 0;
    const remove = engine.removeWorkload.bind(engine);
    engine.removeWorkload = async (name: string) => {
      const student = engine.containers.get(name)!.labels[LABEL.student]!;
      busy.set(student, (busy.get(student) ?? 0) + 1);
      most = Math.max(most, busy.size);
      await new Promise((r) => setTimeout(r, 5));
      await remove(name);
      if (busy.get(student) === 1) busy.delete(student);
      else busy.set(student, busy.get(student)! - 1);
    };
    await removeObjects(engine, await engine.list('dn'), { graceful: false });

    assert.equal(most, engine.parallelism, 'students worked on at once');
    const left = await engine.list('dn');
    assert.deepEqual([left.containers.length, left.networks.length, left.volumes.length], [0, 0, 0]);
    assert.equal(left.disks.length, 0);
    // Each disk goes after the volumes on it.
    const s1 = (call: string) => engine.calls.indexOf(call);
    assert.ok(s1('remove-disk labctl-dn-s01-disk') > s1('remove-volume labctl-dn-s01-spool'));
  });
});
