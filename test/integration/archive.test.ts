import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import tar from 'tar-stream';
import type { ArchiveResult } from '../../src/commands/archive.js';
import type { ClassInfo } from '../../src/core/class-model.js';
import type { Progress } from '../../src/core/wire.js';
import { labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { cleanClass, exec } from '../helpers/docker.js';
import { freeBasePort } from '../helpers/ports.js';
import { sshRun } from '../helpers/ssh.js';
import { ALL_EXERCISES, waitForCredits } from '../helpers/td.js';

/**
 * An archive that settles disputes: student 1 solves the TD (the lab's solve script), student 2 does nothing; the
 * archive holds their mail, logs, evidence and credits; verify-archive says it is intact, and names the file when
 * one byte of it changed. Student 1 also plants links in their home, to have root copy /etc/shadow into it.
 */
const run = promisify(execFile);
const CLASS = `ar${process.pid}`;
const PASSWORD = 'master2021';
const SOLVE = path.resolve('labs/smtp-pop-imap/solve');
let info: ClassInfo;
let dir = '';
let file = '';
let key = '';

/** The archive's files, by name. */
async function entries(archive: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const extract = tar.extract();
  Readable.from([gunzipSync(archive)]).pipe(extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    files.set(entry.header.name, Buffer.concat(chunks));
  }
  return files;
}

/** The archive again, with `change` applied to each file's content (headers kept). */
async function rewrite(archive: Buffer, change: (name: string, content: Buffer) => Buffer): Promise<Buffer> {
  const extract = tar.extract();
  const pack = tar.pack();
  // Read as it is written: the pack holds back each entry until what came before is read.
  const packed = (async () => {
    const out: Buffer[] = [];
    for await (const chunk of pack) out.push(chunk as Buffer);
    return Buffer.concat(out);
  })();
  Readable.from([gunzipSync(archive)]).pipe(extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    const content = change(entry.header.name, Buffer.concat(chunks));
    await new Promise<void>((resolve, reject) =>
      pack.entry({ ...entry.header, size: content.length }, content, (e) => (e ? reject(e) : resolve())),
    );
  }
  pack.finalize();
  return gzipSync(await packed);
}

const verify = (archive: string, ...args: string[]) => labctl(['verify-archive', archive, ...args]);

describe('archive and verify-archive', { timeout: 900_000 }, () => {
  before(async () => {
    await cleanClass(CLASS);
    dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-archive-'));
    const up = await labctl(upArgs(CLASS, 2, await freeBasePort(2)));
    assert.equal(up.code, 0, up.stderr);
    info = await labctlJson<ClassInfo>(['info', '--class', CLASS]);
    const card = path.join(dir, 'card.json');
    await writeFile(card, (await labctl(['info', '--class', CLASS, '--student', '1', '--json'])).stdout);
    await run(SOLVE, [card], { timeout: 300_000 });
    await waitForCredits(CLASS, 1, ALL_EXERCISES);
  });
  after(async () => {
    await labctl(['down', '--class', CLASS, '--purge', '--yes']);
    await cleanClass(CLASS);
    await rm(dir, { recursive: true, force: true });
  });

  it('writes each student their mail, logs, evidence and credits, with a signed manifest; verify says intact', async (t) => {
    // util1 links their ~/mbox and a message of their Maildir to /etc/shadow: root must copy neither.
    const ssh = (command: string) => sshRun(info.students[0]!.ports.ssh!, 'util1', PASSWORD, command);
    await ssh('ln -sf /etc/shadow ~/mbox; ln -sf /etc/shadow ~/Maildir/cur/1.shadow:2,S');
    const shadow = (await exec(`labctl-${CLASS}-s01-mail`, ['head', '-1', '/etc/shadow'])).output.trim();
    assert.match(shadow, /^root:/);

    file = path.join(dir, 'class.tar.gz');
    const written = await labctl(['archive', '--class', CLASS, '--output', file, '--json']);
    assert.equal(written.code, 0, written.stderr);
    const result = JSON.parse(written.stdout) as ArchiveResult;
    key = result.key;
    assert.deepEqual(result.students, [1, 2]);
    assert.equal((await stat(file)).mode & 0o777, 0o600, 'students mail: readable by its owner only');

    const files = await entries(await readFile(file));
    const names = [...files.keys()];
    for (const name of [
      'class.json',
      'lab.json',
      's01/mail/util1/spool',
      's01/mail/util1/home.tar',
      's01/mail/util11/spool',
      's01/log/mail.log',
      's01/evidence/log/verify.log',
      's01/credits.json',
      's02/credits.json',
      's02/log/mail.log',
      'manifest.json',
      'manifest.sig',
    ])
      assert.ok(names.includes(name), `${name} is in the archive: ${names.join(' ')}`);
    assert.ok(
      names.some((n) => /^s01\/evidence\/archive\/(new|cur)\/./.test(n)),
      'the messages Postfix archived',
    );
    assert.match(files.get('s01/mail/util1/spool')!.toString(), /^From /m);
    assert.match(files.get('s01/log/mail.log')!.toString(), /postfix\/smtpd/);
    const credits = JSON.parse(files.get('s01/credits.json')!.toString()) as Progress;
    assert.deepEqual(
      credits.exercises
        .filter((e) => e.done)
        .map((e) => e.id)
        .sort(),
      [...ALL_EXERCISES].sort(),
    );
    for (const e of credits.exercises) assert.ok(e.at && e.evidence, `${e.id} has its time and evidence`);
    const none = JSON.parse(files.get('s02/credits.json')!.toString()) as Progress;
    assert.equal(none.exercises.filter((e) => e.done).length, 0);
    for (const [name, content] of files)
      assert.ok(!content.includes(shadow), `${name} holds /etc/shadow, copied through util1's link`);

    const ok = await verify(file);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`is intact: ${files.size - 2} files of class ${CLASS} \\(students 1, 2\\)`));

    const one = path.join(dir, 's01.tar.gz');
    const single = await labctlJson<ArchiveResult>(['archive', '--class', CLASS, '--student', '1', '--output', one]);
    t.diagnostic(`archive of student 1 after the solve script: ${single.bytes} bytes, ${single.files} files`);
    assert.deepEqual(single.students, [1]);
  });

  it('names the file when one byte of its content changed, and refuses an edited manifest', async () => {
    const original = await readFile(file);
    const flipped = path.join(dir, 'flipped.tar.gz');
    await writeFile(
      flipped,
      await rewrite(original, (name, content) => {
        if (name !== 's01/mail/util1/spool') return content;
        const copy = Buffer.from(content);
        copy[copy.length >> 1]! ^= 0x01;
        return copy;
      }),
    );
    const changed = await verify(flipped);
    assert.equal(changed.code, 7, changed.stderr);
    assert.match(changed.stderr, /is NOT intact:\n {2}s01\/mail\/util1\/spool: changed \(SHA-256 /);
    assert.doesNotMatch(changed.stderr, /manifest\.json/, 'the manifest itself is as signed');

    // Someone who changes a credit and writes its new SHA-256 into the manifest, without the class's key.
    const forged = path.join(dir, 'forged.tar.gz');
    const credit = (await entries(original)).get('s02/credits.json')!;
    const more = Buffer.from(credit.toString().replace('"done": false', '"done": true'));
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    await writeFile(
      forged,
      await rewrite(original, (name, content) => {
        if (name === 's02/credits.json') return more;
        if (name === 'manifest.json')
          return Buffer.from(
            content
              .toString()
              .replace(sha(credit), sha(more))
              .replace(`"bytes": ${credit.length},`, `"bytes": ${more.length},`),
          );
        return content;
      }),
    );
    const refused = await verify(forged);
    assert.equal(refused.code, 7, refused.stderr);
    assert.match(refused.stderr, /manifest\.json: its signature does not match/);
    assert.doesNotMatch(refused.stderr, /s02\/credits\.json/, 'the file matches the forged manifest');

    // A byte of the compressed file itself.
    const raw = Buffer.from(original);
    raw[raw.length >> 1]! ^= 0xff;
    const broken = path.join(dir, 'broken.tar.gz');
    await writeFile(broken, raw);
    const unreadable = await verify(broken);
    assert.equal(unreadable.code, 7, unreadable.stderr);
    assert.match(unreadable.stderr, /is NOT intact/);

    const wrongKey = await verify(file, '--key', 'not-the-key');
    assert.equal(wrongKey.code, 7);
    assert.match(wrongKey.stderr, /signature does not match/);
  });

  it('once the class is gone, verify needs the key archive printed', async () => {
    const gone = await labctl(['down', '--class', CLASS, '--purge', '--yes']);
    assert.equal(gone.code, 0, gone.stderr);
    const nokey = await verify(file);
    assert.equal(nokey.code, 2, nokey.stderr);
    assert.match(nokey.stderr, new RegExp(`Class ${CLASS} is not on this Docker engine`));
    const ok = await verify(file, '--key', key);
    assert.equal(ok.code, 0, ok.stderr);
  });
});
