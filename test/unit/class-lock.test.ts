import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lockName, withClassLock, type LockOptions } from '../../src/core/class-lock.js';
import { LABEL } from '../../src/core/labels.js';
import { LabctlError } from '../../src/errors.js';
import { FakeEngine } from '../helpers/fake-engine.js';

/** The fake engine, with a lock held by someone, and a clock that only moves when the lock code sleeps. */
class FakeLocks extends FakeEngine {
  clock = Date.UTC(2026, 10, 26, 9, 5);
  sleeps = 0;
  onSleep?: () => void;

  hold(className: string, labels: Partial<Record<'pid' | 'host' | 'since', string>>) {
    this.locks.set(lockName(className), {
      id: 'held',
      labels: {
        [LABEL.class]: className,
        [LABEL.role]: 'lock',
        [LABEL.lockPid]: labels.pid ?? '4242',
        [LABEL.lockHost]: labels.host ?? 'here',
        [LABEL.lockSince]: labels.since ?? String(this.clock),
      },
    });
  }
  options(extra: LockOptions = {}): LockOptions {
    return {
      pid: 1000,
      host: 'here',
      now: () => this.clock,
      sleep: (ms) => {
        this.clock += ms;
        this.sleeps++;
        this.onSleep?.();
        return Promise.resolve();
      },
      isAlive: () => true,
      ...extra,
    };
  }
}

describe('the class lock', () => {
  it('is held while fn runs, with the labels, and given back after', async () => {
    const engine = new FakeLocks();
    const result = await withClassLock(
      engine,
      'ce-a',
      () => {
        const holder = engine.locks.get('labctl-ce-a-lock');
        assert.equal(holder?.labels[LABEL.role], 'lock');
        assert.equal(holder?.labels[LABEL.class], 'ce-a');
        assert.equal(holder?.labels[LABEL.lockPid], '1000');
        assert.equal(holder?.labels[LABEL.lockHost], 'here');
        return Promise.resolve(42);
      },
      engine.options(),
    );
    assert.equal(result, 42);
    assert.equal(engine.locks.size, 0);
  });

  it('is given back when fn fails', async () => {
    const engine = new FakeLocks();
    await assert.rejects(
      withClassLock(engine, 'ce-a', () => Promise.reject(new Error('boom')), engine.options()),
      /boom/,
    );
    assert.equal(engine.locks.size, 0);
  });

  it('makes a second run wait until the first gives it back', async () => {
    const engine = new FakeLocks();
    engine.hold('ce-a', {});
    const said: string[] = [];
    engine.onSleep = () => {
      if (engine.sleeps === 5) engine.locks.clear();
    };
    let ran = false;
    await withClassLock(
      engine,
      'ce-a',
      () => {
        ran = true;
        return Promise.resolve();
      },
      engine.options({ onWait: (m) => said.push(m) }),
    );
    assert.ok(ran);
    assert.equal(engine.sleeps, 5);
    assert.equal(said.length, 1);
    assert.match(
      said[0]!,
      /Another `labctl up` of class ce-a has been running since \d\d:\d\d \(pid 4242 on host here\)/,
    );
  });

  it('names the command that holds it: a snapshot is not called an up', async () => {
    const engine = new FakeLocks();
    const said: string[] = [];
    engine.onSleep = () => engine.locks.clear(); // the snapshot ends while the second run waits
    await withClassLock(
      engine,
      'ce-a',
      async () => {
        assert.equal(engine.locks.get('labctl-ce-a-lock')?.labels[LABEL.lockCommand], 'snapshot');
        await withClassLock(engine, 'ce-a', () => Promise.resolve(), engine.options({ onWait: (m) => said.push(m) }));
      },
      engine.options({ command: 'snapshot' }),
    );
    assert.equal(said.length, 1);
    assert.match(said[0]!, /^Another `labctl snapshot` of class ce-a has been running since \d\d:\d\d/);
  });

  it('gives up after the wait with exit 3, code class-busy, naming the holder', async () => {
    const engine = new FakeLocks();
    const since = engine.clock;
    engine.hold('ce-a', { host: 'other-host', pid: '77' });
    const error = await withClassLock(engine, 'ce-a', () => Promise.resolve(), engine.options()).then(
      () => assert.fail('should have failed'),
      (e: unknown) => e as LabctlError,
    );
    assert.ok(error instanceof LabctlError);
    assert.equal(error.exitCode, 3);
    assert.equal(error.code, 'class-busy');
    const d = new Date(since);
    const hhmm = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
    assert.equal(
      error.message,
      `Another \`labctl up\` of class ce-a has been running since ${hhmm} (pid 77 on host other-host); wait for it, or remove the stale lock with \`labctl down --class ce-a\` if it crashed.`,
    );
    assert.equal(engine.clock - since, 60_000);
    assert.equal(engine.locks.get('labctl-ce-a-lock')?.id, 'held');
  });

  it('takes over a lock older than 15 min whose holder is dead on this host', async () => {
    const engine = new FakeLocks();
    engine.hold('ce-a', { since: String(engine.clock - 16 * 60_000) });
    let ran = false;
    await withClassLock(
      engine,
      'ce-a',
      () => {
        ran = true;
        assert.equal(engine.locks.get('labctl-ce-a-lock')?.labels[LABEL.lockPid], '1000');
        return Promise.resolve();
      },
      engine.options({ isAlive: () => false }),
    );
    assert.ok(ran);
    assert.equal(engine.sleeps, 0);
  });

  it('does not take over a young lock, a live holder, or one on another host', async () => {
    for (const [labels, alive] of [
      [{ since: undefined }, false],
      [{ since: 'old' }, true],
      [{ since: 'old', host: 'other-host' }, false],
    ] as const) {
      const engine = new FakeLocks();
      engine.hold('ce-a', {
        ...labels,
        since: labels.since === 'old' ? String(engine.clock - 16 * 60_000) : undefined,
      });
      await assert.rejects(
        withClassLock(engine, 'ce-a', () => Promise.resolve(), engine.options({ isAlive: () => alive, waitMs: 3000 })),
        (e: LabctlError) => e.code === 'class-busy',
      );
      assert.equal(engine.locks.get('labctl-ce-a-lock')?.id, 'held');
    }
  });
});
