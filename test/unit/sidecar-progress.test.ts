import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import type { Result } from '../../src/sidecar/checks.js';
import { ProgressStore } from '../../src/sidecar/progress.js';
import { createServer } from '../../src/sidecar/server.js';
import { Sidecar } from '../../src/sidecar/sidecar.js';
import { makeConfig } from '../helpers/sidecar-config.js';

const NOW = () => new Date('2026-11-26T10:00:00Z');
const credit = (id: string): Result => ({ id, done: true, at: '2026-11-26T09:52:41.000Z', evidence: `preuve ${id}` });
/** What a sidecar of this version wrote after two credits. */
const GOOD = JSON.stringify({
  credits: {
    'smtp-simple': { at: '2026-11-26T09:52:41.000Z', evidence: 'message A' },
    'pop-login': { at: '2026-11-26T09:53:00.000Z', evidence: 'util1' },
  },
  resetAt: null,
  startedAt: '2026-11-26T09:00:00.000Z',
  cursor: { log: { inode: 12, offset: 3400 } },
});

const dirs: string[] = [];
let file: string;
beforeEach(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-progress-'));
  dirs.push(dir);
  file = path.join(dir, 'state/progress.json');
  await mkdir(path.dirname(file));
});
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function loaded(): Promise<ProgressStore> {
  const store = new ProgressStore(file, NOW);
  await store.load();
  return store;
}

describe('the progress file, read whole or not at all', () => {
  it('starts a new file when there is none, and keeps credits across a restart', async () => {
    const store = await loaded();
    assert.equal(store.problem, undefined);
    assert.equal(store.startedAt, '2026-11-26T10:00:00.000Z');
    await store.merge([credit('smtp-simple')]);
    const again = await loaded();
    assert.equal(again.get('smtp-simple')?.evidence, 'preuve smtp-simple');
    assert.equal(again.startedAt, '2026-11-26T10:00:00.000Z');
  });

  const unreadable: [string, () => Promise<void>, RegExp][] = [
    ['a half-written file', () => writeFile(file, GOOD.slice(0, 90)), /not a progress file \(not JSON/],
    ['an empty file', () => writeFile(file, ''), /not a progress file \(empty\)/],
    ['a file of another shape', () => writeFile(file, '{"credits": 5}'), /credits: expected record/],
    ['a path it cannot read', () => mkdir(file), /cannot read .*EISDIR/],
  ];
  for (const [what, make, why] of unreadable) {
    it(`never writes over ${what}, and says why`, async () => {
      await make();
      const store = await loaded();
      assert.match(store.problem ?? '', why);
      // The sidecar keeps going: credits and where its readers stand are kept in memory only.
      assert.equal(await store.merge([credit('smtp-simple')]), true);
      await store.saveCursor({ log: { inode: 1, offset: 10 } });
      assert.equal(store.get('smtp-simple')?.evidence, 'preuve smtp-simple');
      assert.match(store.problem ?? '', why);
      const after = await loaded();
      assert.match(after.problem ?? '', why, 'the file changed');
      assert.deepEqual(await readdir(path.dirname(file)), ['progress.json'], 'something was written beside it');
    });
  }

  it('sets an unreadable file aside, never deletes it, when the instructor resets progress', async () => {
    const half = GOOD.slice(0, 90);
    await writeFile(file, half);
    const store = await loaded();
    await store.clear();
    assert.equal(store.problem, undefined);
    const names = await readdir(path.dirname(file));
    const aside = names.find((n) => n.startsWith('progress.json.unreadable-2026-11-26T10-00-00'));
    assert.ok(aside, names.join());
    assert.equal(await readFile(path.join(path.dirname(file), aside), 'utf8'), half);
    const fresh = await loaded();
    assert.equal(fresh.problem, undefined);
    assert.equal(fresh.resetAt, '2026-11-26T10:00:00.000Z');
  });

  it('says when it cannot write, keeps the credits, and saves them once it can', async () => {
    await writeFile(file, GOOD);
    const store = await loaded();
    // The temporary file's place is taken by a directory it cannot remove: the write fails.
    await mkdir(`${file}.tmp/x`, { recursive: true });
    await store.merge([credit('imap-login')]);
    assert.match(store.problem ?? '', /cannot save progress to .*progress\.json/);
    assert.equal(await readFile(file, 'utf8'), GOOD, 'the old file was touched');
    await rm(`${file}.tmp`, { recursive: true });
    await store.saveCursor({ log: { inode: 12, offset: 4000 } });
    assert.equal(store.problem, undefined);
    const again = await loaded();
    assert.deepEqual(
      ['smtp-simple', 'pop-login', 'imap-login'].map((id) => again.get(id) !== undefined),
      [true, true, true],
    );
  });

  it('writes through a temporary file: a leftover one is replaced, and writes at once never mix', async () => {
    await writeFile(`${file}.tmp`, 'garbage from an interrupted write');
    const store = await loaded();
    const ids = Array.from({ length: 30 }, (_, i) => `ex-${i}`);
    await Promise.all([
      ...ids.map((id) => store.merge([credit(id)])),
      ...ids.map((_, i) => store.saveCursor({ log: { inode: 1, offset: i } })),
      store.clear().then(() => store.merge([credit('after-clear')])),
    ]);
    assert.equal(store.problem, undefined);
    const again = await loaded();
    assert.equal(again.problem, undefined);
    assert.ok(again.get('after-clear'));
    assert.deepEqual(await readdir(path.dirname(file)), ['progress.json']);
  });

  it('reads the file of the version that ran as root (no startedAt, no cursor) and keeps its credits', async () => {
    const old = JSON.stringify(
      { credits: { 'smtp-simple': { at: null, evidence: 'message A' } }, resetAt: null },
      null,
      2,
    );
    await writeFile(file, old);
    const store = await loaded();
    assert.equal(store.problem, undefined);
    assert.equal(store.get('smtp-simple')?.evidence, 'message A');
    assert.equal((await loaded()).startedAt, '2026-11-26T10:00:00.000Z');
  });
});

describe('a sidecar whose progress file cannot be read', () => {
  it('answers /health 503 unsaved with why, and the progress API carries the problem with the credits it holds', async () => {
    const base = await mkdtemp(path.join(os.tmpdir(), 'labctl-progress-'));
    for (const sub of ['log', 'archive/new', 'archive/cur', 'state'])
      await mkdir(path.join(base, sub), { recursive: true });
    const config = makeConfig(base);
    await writeFile(config.stateFile, GOOD.slice(0, 90));
    await writeFile(
      config.verifyLog,
      `2026-11-26T09:52:41.123+00:00 uid=0 pid=9 mail pop3d: LOGIN, user=util1, ip=[::ffff:10.213.1.1], port=[39270]\n`,
    );
    const sidecar = new Sidecar(config, { now: NOW });
    await sidecar.store.load();
    await sidecar.poll();
    const server = createServer(sidecar);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const get = (p: string) =>
      new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) =>
        http
          .get({ host: '127.0.0.1', port, path: p, headers: { authorization: 'Bearer t' } }, (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) as Record<string, unknown> }),
            );
          })
          .on('error', reject),
      );
    try {
      const health = await get('/health');
      assert.equal(health.status, 503);
      assert.equal(health.body.status, 'unsaved');
      assert.match(String(health.body.reason), /progress\.json is not a progress file \(not JSON.*kept as it is/);
      const progress = await get('/api/progress');
      assert.match(String(progress.body.problem), /not a progress file/);
      assert.equal(progress.body.done, 1, 'the credit earned meanwhile is shown');
      assert.equal(await readFile(config.stateFile, 'utf8'), GOOD.slice(0, 90));
    } finally {
      server.close();
      await sidecar.close();
      await rm(base, { recursive: true, force: true });
    }
  });
});
