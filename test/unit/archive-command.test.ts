import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, before, beforeEach, describe, it } from 'node:test';
import tar from 'tar-stream';
import { archive } from '../../src/commands/archive.js';
import { down } from '../../src/commands/down.js';
import { stop } from '../../src/commands/stop.js';
import { settleSession } from '../../src/core/class-session.js';
import { verifyArchiveCommand } from '../../src/commands/verify-archive.js';
import { archiveKey } from '../../src/core/token.js';
import { ExitCode } from '../../src/errors.js';
import { BASE, TOKEN, fails, fakeClass, testContext } from '../helpers/fake-class.js';
import { FakeEngine, collected } from '../helpers/fake-engine.js';
import { greetAs } from '../helpers/greeters.js';

const web = (n: number) => ({ web: BASE + n * 100 + 80 });

async function entries(file: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const extract = tar.extract();
  Readable.from([gunzipSync(await readFile(file))]).pipe(extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    files.set(entry.header.name, Buffer.concat(chunks));
  }
  return files;
}

/** The archive at `file` written again with `change` applied to each entry's content, and `extra` entries added. */
async function rewrite(file: string, change: (name: string, c: Buffer) => Buffer, extra: Record<string, string> = {}) {
  const pack = tar.pack();
  for (const [name, content] of await entries(file)) pack.entry({ name }, change(name, content));
  for (const [name, content] of Object.entries(extra)) pack.entry({ name }, content);
  pack.finalize();
  const out: Buffer[] = [];
  for await (const chunk of pack) out.push(chunk as Buffer);
  const changed = `${file}.changed.tar.gz`;
  await writeFile(changed, gzipSync(Buffer.concat(out)));
  return changed;
}

/** archive and verify-archive through their Context, on the fake engine with stand-in sidecars. */
describe('archive and verify-archive, through their context', () => {
  let engine: FakeEngine;
  let dir: string;
  let close: (() => Promise<void>)[] = [];
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-archive-'));
    close = await Promise.all([greetAs(1, web(1)), greetAs(2, web(2))]);
  });
  after(async () => {
    await Promise.all(close.map((c) => c()));
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    engine = new FakeEngine();
    await fakeClass(engine, { className: 'ac', students: 2 });
  });

  it('writes per student what their server copied, their credits and a signed manifest, for its owner only', async () => {
    const file = path.join(dir, 'ac.tar.gz');
    const t = testContext(engine);
    const result = await archive({ className: 'ac', output: file }, t.ctx);
    assert.equal(result.key, archiveKey(TOKEN, 'ac'));
    assert.deepEqual(result.students, [1, 2]);
    assert.match(t.stdout(), /^Wrote .*ac\.tar\.gz \([\d.]+ \w+\): 10 files of class ac \(2 students\)/);
    assert.match(t.stdout(), new RegExp(`--key ${result.key}`));
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(engine.calls, [
      'maintenance collect labctl-ac-s01-mail',
      'maintenance collect labctl-ac-s02-mail',
    ]);
    const files = await entries(file);
    assert.deepEqual(
      [...files.keys()],
      [
        'class.json',
        'lab.json',
        's01/mail/util1/spool',
        's01/log/mail.log',
        's01/evidence/log/verify.log',
        's01/credits.json',
        's02/mail/util1/spool',
        's02/log/mail.log',
        's02/evidence/log/verify.log',
        's02/credits.json',
        'manifest.json',
        'manifest.sig',
      ],
    );
    assert.match(files.get('s02/mail/util1/spool')!.toString(), /Subject: de labctl-ac-s02-mail/);
    const credits = JSON.parse(files.get('s01/credits.json')!.toString());
    assert.deepEqual(credits.exercises[0], {
      id: 'smtp-simple',
      title: 'Un message',
      done: true,
      at: '2026-12-01T10:00:00.000Z',
      evidence: 'message 1A2B reçu',
    });
    assert.match(files.get('manifest.sig')!.toString(), /^hmac-sha256:[0-9a-f]{64}\n$/);

    const ok = testContext(engine);
    const verdict = await verifyArchiveCommand({ file }, ok.ctx);
    assert.equal(verdict.intact, true);
    assert.match(ok.stdout(), /is intact: 10 files of class ac \(students 1, 2\), written \d{4}-/);
  });

  it('verify names a changed file, a missing one, an added one, one twice, and an edited manifest (exit 7)', async () => {
    const file = path.join(dir, 'v.tar.gz');
    await archive({ className: 'ac', output: file }, testContext(engine).ctx);
    const flip = (target: string) => (name: string, c: Buffer) => {
      if (name !== target) return c;
      const copy = Buffer.from(c);
      copy[0]! ^= 1;
      return copy;
    };
    const verify = (f: string, key?: string) =>
      verifyArchiveCommand({ file: f, ...(key && { key }) }, testContext(engine).ctx);
    await fails(
      verify(await rewrite(file, flip('s02/log/mail.log'))),
      ExitCode.changed,
      /is NOT intact:\n {2}s02\/log\/mail\.log: changed \(SHA-256 [0-9a-f]{64}, the manifest says [0-9a-f]{64}\)$/,
    );
    await fails(verify(await rewrite(file, flip('manifest.json'))), 7, /manifest\.json: Unexpected token/);
    const edited = (name: string, c: Buffer) =>
      name === 'manifest.json'
        ? Buffer.from(c.toString().replace('"students": [\n    1,', '"students": [\n    3,'))
        : c;
    await fails(
      verify(await rewrite(file, edited)),
      7,
      /is NOT intact:\n {2}manifest\.json: its signature does not match \(the manifest was changed[^\n]*$/,
    );
    await fails(verify(await rewrite(file, (n, c) => c, { 's01/extra': 'x' })), 7, /s01\/extra: not in the manifest/);
    await fails(
      verify(await rewrite(file, (n, c) => c, { 's01/log/mail.log': 'forged' })),
      7,
      /s01\/log\/mail\.log: in the archive twice/,
    );
    const raw = await readFile(file);
    raw[raw.length >> 1]! ^= 0xff;
    const broken = path.join(dir, 'broken.tar.gz');
    await writeFile(broken, raw);
    await fails(verify(broken), 7, /NOT intact/);
    await fails(verify(file, 'another-key'), 7, /its signature does not match \(the manifest was changed, or the key/);
    assert.equal((await verify(file, archiveKey(TOKEN, 'ac'))).intact, true);
  });

  it("once the class is gone, verify needs --key; a student's copy that names a link says so", async () => {
    engine.maintenanceAnswer = async (mail, task) =>
      task.action === 'collect'
        ? {
            exitCode: 0,
            stdout: '',
            stderr: 'skipped /home/util1/mbox: not a regular file\n',
            backup: await collected(mail.name),
          }
        : { exitCode: 0, stdout: '', stderr: '' };
    const file = path.join(dir, 'gone.tar.gz');
    await archive({ className: 'ac', student: 1, output: file }, testContext(engine).ctx);
    assert.match(
      (await entries(file)).get('s01/skipped.txt')!.toString(),
      /^skipped \/home\/util1\/mbox: not a regular file$/m,
    );
    const empty = new FakeEngine();
    await fails(
      verifyArchiveCommand({ file }, testContext(empty).ctx),
      ExitCode.usage,
      /Class ac is not on this Docker engine/,
    );
    const t = testContext(empty);
    await verifyArchiveCommand({ file, key: archiveKey(TOKEN, 'ac') }, t.ctx);
    assert.match(t.stdout(), /is intact: \d+ files of class ac \(student 1\)/);
  });

  it('refuses a class whose students are stopped, before writing anything (exit 2)', async () => {
    await stop({ className: 'ac', student: 2 }, testContext(engine).ctx);
    const file = path.join(dir, 'stopped.tar.gz');
    await fails(
      archive({ className: 'ac', output: file }, testContext(engine).ctx),
      ExitCode.usage,
      /servers of student\(s\) 2 of class ac do not run/,
    );
    await assert.rejects(stat(file));
  });

  it('Ctrl-C leaves no archive, not even a partial one, and exits 130', async () => {
    const file = path.join(dir, 'cut.tar.gz');
    const t = testContext(engine);
    // Pressed while student 2's server is being copied: student 1 is in the archive's stream already.
    engine.onCall = (call) => {
      if (call === 'maintenance collect labctl-ac-s02-mail') t.interrupt();
    };
    await fails(archive({ className: 'ac', output: file }, t.ctx), ExitCode.interrupted, /^Interrupted\.$/);
    await assert.rejects(stat(file));
    await assert.rejects(stat(`${file}.partial`));
    assert.equal(t.stdout(), '');
  });

  it('Ctrl-C once the archive is whole: it is kept and recorded, so down --purge of the graded class goes ahead', async () => {
    const file = path.join(dir, 'whole.tar.gz');
    // A session that ended an hour ago: down --purge wants an archive made since.
    const hourAgo = new Date(Date.now() - 2 * 3_600_000);
    await settleSession(engine, 'ac', { for: '1h' }, testContext(engine).ctx.reporter, () => hourAgo, {
      server: () => Promise.resolve(),
      sidecar: () => Promise.resolve(),
    });
    await fails(
      down({ className: 'ac', purge: true, yes: true }, testContext(engine).ctx),
      ExitCode.conflict,
      /no archive/,
    );
    const t = testContext(engine);
    const write = t.ctx.reporter.writeStream.bind(t.ctx.reporter);
    t.ctx.reporter.writeStream = async (...args) => {
      const bytes = await write(...args);
      t.interrupt(); // pressed just as the file is whole
      return bytes;
    };
    const result = await archive({ className: 'ac', output: file }, t.ctx);
    assert.deepEqual(result.students, [1, 2]);
    assert.ok((await stat(file)).size > 0);
    assert.match(t.stdout(), /Wrote .*whole\.tar\.gz/);
    const purged = testContext(engine);
    await down({ className: 'ac', purge: true, yes: true }, purged.ctx);
    assert.equal((await engine.list('ac')).volumes.length, 0);
  });
});
