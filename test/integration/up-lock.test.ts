import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { lockName } from '../../src/core/class-lock.js';
import { LABEL } from '../../src/core/labels.js';
import { LocalEngine } from '../../src/docker/local/local-engine.js';
import { labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { cleanClass, labelled } from '../helpers/docker.js';
import { freeBasePort } from '../helpers/ports.js';

const CLASS = `ce-${process.pid}`;

describe('two `labctl up` of one class at once', { timeout: 600_000 }, () => {
  let basePort: number;

  before(async () => {
    // Images built first, so the first `up` is done well within the 60 s the second one waits.
    await labctlJson(['build']);
    basePort = await freeBasePort(1);
  });
  after(() => cleanClass(CLASS));

  it('the second waits for the first; both succeed and the class answers', async () => {
    const args = upArgs(CLASS, 1, basePort);
    const [a, b] = await Promise.all([labctl(args), labctl(args)]);
    assert.equal(a.code, 0, `first up: ${a.stderr}`);
    assert.equal(b.code, 0, `second up: ${b.stderr}`);
    const waited = [a, b].filter((r) => /Another `labctl up` of class .* waiting for it/.test(r.stderr));
    assert.equal(waited.length, 1, `exactly one run waited:\n${a.stderr}\n---\n${b.stderr}`);
    assert.match(waited[0]!.stderr, new RegExp(`Another \`labctl up\` of class ${CLASS} has been running since`));

    // The lock is given back, and no command takes it for a student.
    const objects = await labelled(CLASS);
    assert.deepEqual(
      objects.containers.filter((c) => c.Labels['dev.labctl.role'] === 'lock').map((c) => c.Names[0]),
      [],
    );
    const status = await labctlJson<{ student: number; services: Record<string, boolean> }[]>([
      'status',
      '--class',
      CLASS,
    ]);
    assert.deepEqual(
      status.map((s) => s.student),
      [1],
    );
    for (const [service, ok] of Object.entries(status[0]!.services)) assert.ok(ok, `${service} answers`);
    const info = await labctlJson<{ students: unknown[] }>(['info', '--class', CLASS]);
    assert.equal(info.students.length, 1);
  });

  it('status ignores a lock left behind by a crash, and down removes it', async () => {
    const engine = new LocalEngine(LABEL);
    const id = await engine.acquireLock(lockName(CLASS), {
      'dev.labctl.class': CLASS,
      'dev.labctl.role': 'lock',
      'dev.labctl.lock-pid': '999999',
      'dev.labctl.lock-host': 'elsewhere',
      'dev.labctl.lock-since': String(Date.now()),
    });
    assert.ok(id);
    const status = await labctlJson<{ student: number }[]>(['status', '--class', CLASS]);
    assert.deepEqual(
      status.map((s) => s.student),
      [1],
    );
    const down = await labctl(['down', '--class', CLASS]);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual((await labelled(CLASS)).containers, []);
  });
});
