import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createServer } from '../../src/sidecar/server.js';
import { Sidecar } from '../../src/sidecar/sidecar.js';
import { PollLoop, type PollLoopOptions } from '../../src/sidecar/wake.js';
import { makeConfig } from '../helpers/sidecar-config.js';

/** No period elapses in these tests: every poll after the first comes from a change or a wake. */
const NEVER = 3_600_000;

describe('the sidecar polls on a change of the evidence, not on a clock', () => {
  let dir: string;
  let loop: PollLoop | undefined;
  let polls = 0;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-wake-'));
    await mkdir(path.join(dir, 'log'));
    await mkdir(path.join(dir, 'archive'));
    polls = 0;
  });
  afterEach(async () => {
    loop?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const start = async (options: Partial<PollLoopOptions> = {}) => {
    loop = new PollLoop({
      poll: () => Promise.resolve(void polls++),
      dirs: ['log', 'archive', 'archive/new', 'archive/cur'].map((d) => path.join(dir, d)),
      idleMs: NEVER,
      pollMs: NEVER,
      wakeMs: 20,
      ...options,
    });
    await loop.start();
    return loop;
  };
  /** Waits for `n` polls in all, for 5 s at most. */
  const polled = async (n: number) => {
    for (let i = 0; i < 500 && polls < n; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(polls >= n, `${polls} polls, not ${n}`);
  };

  it('reads a line written to the log, and the log rotated under it, within the wake delay', async () => {
    const log = path.join(dir, 'log', 'verify.log');
    await writeFile(log, '');
    assert.equal((await start()).isWatching(), true);
    assert.equal(polls, 1);
    await appendFile(log, 'a line\n');
    await polled(2);
    await rename(log, `${log}.1`);
    await polled(3);
    await appendFile(`${log}.1`, 'a late line to the rotated file\n');
    await polled(4);
  });

  it('reads the first message into an archive whose Maildir did not exist yet (virtual makes it at the first)', async () => {
    await start();
    await mkdir(path.join(dir, 'archive', 'new'));
    await polled(2);
    await writeFile(path.join(dir, 'archive', 'new', '1700000000.V1I1M1.mail'), 'message');
    await polled(3);
  });

  it('watches a directory again when it is replaced, even between two polls', async () => {
    await start({ dirs: [dir, path.join(dir, 'log')] });
    await rm(path.join(dir, 'log'), { recursive: true });
    await mkdir(path.join(dir, 'log'));
    await polled(2);
    await writeFile(path.join(dir, 'log', 'verify.log'), 'a line\n');
    await polled(3);
  });

  it('polls every pollMs when the evidence cannot be watched (no inotify left on the host)', async () => {
    const watch = () => {
      throw Object.assign(new Error('EMFILE: too many open files, watch'), { code: 'EMFILE' });
    };
    assert.equal(
      (await start({ watch: watch as unknown as PollLoopOptions['watch'], pollMs: 20 })).isWatching(),
      false,
    );
    await polled(4);
  });

  it('polls once more after a poll during which it was woken', async () => {
    let release = () => {};
    const first = new Promise<void>((r) => (release = r));
    loop = new PollLoop({
      poll: async () => {
        polls++;
        if (polls === 1) await first;
      },
      dirs: [],
      idleMs: NEVER,
      pollMs: NEVER,
      wakeMs: 20,
    });
    const started = loop.start();
    loop.wake();
    loop.wake();
    release();
    await started;
    await polled(2);
  });
});

describe('GET /health?poll', () => {
  it('wakes the poll loop; a plain /health does not', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-wake-'));
    const sidecar = new Sidecar(makeConfig(dir));
    let wakes = 0;
    const server = createServer(sidecar, { wake: () => void wakes++ }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      const plain = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { polls: number };
      assert.deepEqual([plain.polls, wakes], [0, 0]);
      await fetch(`http://127.0.0.1:${port}/health?poll`);
      assert.equal(wakes, 1);
    } finally {
      server.close();
      server.closeAllConnections();
      await sidecar.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
