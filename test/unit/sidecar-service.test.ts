import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { once } from 'node:events';
import { sameSecret, studentKey } from '../../src/core/token.js';
import { EXERCISE_IDS } from '../../src/sidecar/checks.js';
import { makeConfig } from '../helpers/sidecar-config.js';
import type { SidecarConfig } from '../../src/sidecar/config.js';
import { createServer } from '../../src/sidecar/server.js';
import { Sidecar } from '../../src/sidecar/sidecar.js';

const ARCHIVE = 'archive@archive.labctl.invalid';
const CLIENT = 'unknown[10.213.1.1]';
const T0 = Date.parse('2026-11-26T09:52:41Z');

/** One verification-log line at `ms`, from `uid`. */
function vline(ms: number, uid: number, line: string): string {
  return `${new Date(ms).toISOString().replace('Z', '123+00:00')} uid=${uid} pid=${163} mail ${line}`;
}

/** The trusted log of one SMTP message to `accounts` received at `ms`, with its archive copy delivered by virtual. */
function session(queueId: string, ms: number, accounts: string[], from = 'president@u-picardie.fr'): string[] {
  return [
    vline(ms, 101, `postfix/smtpd[163]: ${queueId}: client=${CLIENT}`),
    vline(ms, 101, `postfix/cleanup[166]: ${queueId}: message-id=<>`),
    vline(
      ms,
      101,
      `postfix/qmgr[161]: ${queueId}: from=<${from}>, size=190, nrcpt=${accounts.length + 1} (queue active)`,
    ),
    vline(
      ms,
      101,
      `postfix/virtual[169]: ${queueId}: to=<${ARCHIVE}>, relay=virtual, delay=0.02, delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)`,
    ),
    ...accounts.map((a) =>
      vline(
        ms,
        0,
        `postfix/local[168]: ${queueId}: to=<${a}@s01.td1.test>, orig_to=<${a}>, relay=local, delay=0.02, delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to mailbox)`,
      ),
    ),
  ];
}

/** The archive copy of a message our smtpd received as `queueId`. */
function archived(queueId: string, body: string): string {
  return [
    'Return-Path: <president@u-picardie.fr>',
    `Delivered-To: ${ARCHIVE}`,
    'Received: from pv (unknown [10.213.1.1])',
    `\tby mail.s01.td1.test (Postfix) with SMTP id ${queueId}`,
    '\tfor <util1>; Thu, 26 Nov 2026 09:52:41 +0000 (UTC)',
    body,
  ].join('\n');
}

let serial = 0;
/** A Maildir file name as virtual(8) makes it: the delivery time first. */
function maildirName(ms: number): string {
  serial++;
  return `${Math.floor(ms / 1000)}.V801I${serial}M${serial}.mail`;
}

const done = (s: Sidecar) =>
  s
    .progress()
    .exercises.filter((e) => e.done)
    .map((e) => e.id);

const ALL: string[] = [...EXERCISE_IDS];

async function freshDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-sidecar-'));
  await mkdir(path.join(dir, 'log'));
  for (const sub of ['new', 'cur', 'tmp']) await mkdir(path.join(dir, 'archive', sub), { recursive: true });
  return dir;
}

/** Polls until a poll reads nothing new. */
async function settle(sidecar: Sidecar): Promise<number> {
  let polls = 0;
  let last = '';
  for (;;) {
    await sidecar.poll();
    polls++;
    const stats = sidecar.stats();
    const now = JSON.stringify([stats.log, stats.archive.seen, stats.archive.skipped]);
    if (now === last) return polls;
    last = now;
  }
}

describe('sidecar service', () => {
  let dir: string;
  let config: SidecarConfig;
  const POP_LOGIN = (ms: number) =>
    `${vline(ms, 0, 'pop3d: LOGIN, user=util1, ip=[::ffff:10.213.1.1], port=[39270]')}\n`;

  before(async () => {
    dir = await freshDir();
    config = makeConfig(dir);
    await writeFile(config.verifyLog, `${session('6027918029D', T0, ['util11', 'util1']).join('\n')}\n`);
    await writeFile(
      path.join(config.archiveDir, 'new', maildirName(T0)),
      archived('6027918029D', 'Subject: test\n\ntest envoie president\n'),
    );
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('credits from the trusted log and the archive, and says so once', async () => {
    const sidecar = new Sidecar(config);
    await sidecar.store.load();
    let changes = 0;
    sidecar.on('change', () => changes++);
    await sidecar.poll();
    assert.deepEqual(done(sidecar), ['smtp-simple', 'smtp-subject', 'smtp-two-recipients']);
    assert.equal(sidecar.progress().done, 3);
    await sidecar.poll();
    assert.equal(changes, 1);
    assert.equal(sidecar.stats().pendingMessages, 0);
    await sidecar.close();
  });

  it('reads only what was appended, and follows the log through rotation', async () => {
    const sidecar = new Sidecar(config);
    await sidecar.store.load();
    await sidecar.poll();
    // rsyslog writes a last line to the renamed file, then opens a new one.
    await rename(config.verifyLog, `${config.verifyLog}.1`);
    await appendFile(`${config.verifyLog}.1`, POP_LOGIN(T0 + 1000));
    await writeFile(config.verifyLog, vline(T0 + 2000, 0, 'imapd: LOGIN, user=util1, ip=[::1]\n'));
    await sidecar.poll();
    assert.ok(done(sidecar).includes('pop-login'), 'the last line of the rotated file');
    assert.equal(sidecar.stats().log.offset, (await readFile(config.verifyLog)).length, 'the new file, read whole');
    await sidecar.close();
  });

  it('keeps credits across a restart, and resumes where it stopped instead of reading everything again', async () => {
    const restarted = new Sidecar(config);
    await restarted.store.load();
    await restarted.poll();
    assert.deepEqual(done(restarted), ['smtp-simple', 'smtp-subject', 'smtp-two-recipients', 'pop-login']);
    assert.equal(restarted.stats().queueIds, 0, 'no old queue id read again');
    assert.equal(restarted.stats().archive.seen, 1);
    await restarted.close();
    await rm(config.verifyLog);
    await rm(path.join(config.archiveDir, 'new'), { recursive: true });
    const again = new Sidecar(config);
    await again.store.load();
    await again.poll();
    assert.equal(again.progress().done, 4, 'credits outlive the log and the archive');
    await again.close();
    await mkdir(path.join(config.archiveDir, 'new'));
  });

  it('after a progress reset, only what the trusted clock puts after it counts', async () => {
    let nowMs = T0 + 3600_000;
    const sidecar = new Sidecar(config, { now: () => new Date(nowMs) });
    await sidecar.store.load();
    await sidecar.resetProgress();
    assert.equal(sidecar.store.resetAt, new Date(T0 + 3600_000).toISOString());
    // Written before the reset, read after it: a login and a whole message, archive copy included.
    await writeFile(
      config.verifyLog,
      POP_LOGIN(T0 + 3599_000) + session('BEFORE1', T0 + 3599_000, ['util1']).join('\n'),
    );
    await writeFile(
      path.join(config.archiveDir, 'new', maildirName(T0 + 3601_000)),
      archived('BEFORE1', 'Subject: avant\n\nx\n'),
    );
    await sidecar.poll();
    assert.deepEqual(done(sidecar), []);
    nowMs += 10_000;
    await appendFile(
      config.verifyLog,
      `\n${POP_LOGIN(T0 + 3605_000)}${session('AFTER1', T0 + 3606_000, ['util1']).join('\n')}\n`,
    );
    await sidecar.poll();
    assert.deepEqual(done(sidecar), ['smtp-simple', 'pop-login']);
    await writeFile(
      path.join(config.archiveDir, 'new', maildirName(T0 + 3606_000)),
      archived('AFTER1', 'Subject: apres\n\nx\n'),
    );
    await sidecar.poll();
    assert.deepEqual(done(sidecar), ['smtp-simple', 'smtp-subject', 'pop-login']);
    await sidecar.close();
  });
});

describe('sidecar inputs that are not what they seem', () => {
  let dir: string;
  let config: SidecarConfig;

  beforeEach(async () => {
    dir = await freshDir();
    config = makeConfig(dir, ALL);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('skips a FIFO, a symlink, a directory and garbage in the archive without hanging, then credits a real message', async () => {
    const secret = path.join(dir, 'secret.eml');
    await writeFile(secret, archived('LNK1', 'Subject: lien\n\nx\n'));
    await writeFile(
      config.verifyLog,
      `${[...session('LNK1', T0, ['util1']), ...session('GRB1', T0, ['util1'])].join('\n')}\n`,
    );
    execFileSync('mkfifo', [path.join(config.archiveDir, 'new', maildirName(T0))]);
    await symlink(secret, path.join(config.archiveDir, 'new', maildirName(T0)));
    await mkdir(path.join(config.archiveDir, 'new', maildirName(T0)));
    await writeFile(
      path.join(config.archiveDir, 'new', maildirName(T0)),
      Buffer.from([0, 255, 0xfe, 0x3a, 10, 0x20, 10, 10, 1, 2, 0x2d, 0x2d, 10]),
    );
    await writeFile(path.join(config.archiveDir, 'new', 'not-a-maildir-name'), archived('LNK1', 'Subject: x\n\nx\n'));
    const sidecar = new Sidecar(config);
    await sidecar.store.load();
    await sidecar.poll();
    assert.equal(sidecar.stats().archive.skipped, 3, 'FIFO, symlink and directory');
    assert.ok(!done(sidecar).includes('smtp-subject'));
    await writeFile(
      path.join(config.archiveDir, 'new', maildirName(T0 + 1000)),
      archived('GRB1', 'Subject: vrai\n\nx\n'),
    );
    await sidecar.poll();
    assert.ok(done(sidecar).includes('smtp-subject'));
    assert.match(sidecar.store.get('smtp-subject')?.evidence ?? '', /GRB1.*Subject: vrai/);
    await sidecar.close();
  });

  it('skips an absurdly long log line and reads on', async () => {
    await writeFile(
      config.verifyLog,
      `${vline(T0, 0, `pop3d: LOGIN, user=${'x'.repeat(600_000)}, ip=[::1]`)}\n${vline(T0, 0, 'imapd: LOGIN, user=util1, ip=[::1]')}\n`,
    );
    const sidecar = new Sidecar(config);
    await sidecar.store.load();
    await sidecar.poll();
    assert.deepEqual(done(sidecar), ['imap-login']);
    await sidecar.close();
  });

  it('does not believe a mail.log-style line or a student uid in the verification log', async () => {
    await writeFile(
      config.verifyLog,
      [
        'Nov 26 09:53:00 mail pop3d: LOGIN, user=util1, ip=[::ffff:10.213.1.1], port=[39270]',
        vline(T0, 2001, 'pop3d: LOGIN, user=util1, ip=[::ffff:10.213.1.1], port=[39270]'),
        vline(T0, 2001, `postfix/smtpd[171]: FAKE1: client=${CLIENT}`),
        vline(
          T0,
          2001,
          'postfix/local[171]: FAKE1: to=<util1@s01.td1.test>, relay=local, delay=0, delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to mailbox)',
        ),
        '',
      ].join('\n'),
    );
    const sidecar = new Sidecar(config);
    await sidecar.store.load();
    await sidecar.poll();
    assert.deepEqual(done(sidecar), []);
    await appendFile(config.verifyLog, POP(T0));
    await sidecar.poll();
    assert.deepEqual(done(sidecar), ['pop-login']);
    await sidecar.close();
  });
});

const POP = (ms: number) => `${vline(ms, 0, 'pop3d: LOGIN, user=util1, ip=[::ffff:10.213.1.1], port=[39270]')}\n`;

/** Writes a message of about 15 MB: a text part and an 11 MB JPEG-ish attachment in base64, in 76-column lines. */
async function writeBigMessage(file: string, queueId: string): Promise<number> {
  const out = createWriteStream(file);
  const write = (text: string) => (out.write(text) ? Promise.resolve() : once(out, 'drain').then(() => undefined));
  await write(
    `${archived(queueId, 'Subject: grosse photo\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b0"\n')}\n--b0\nContent-Type: text/plain\n\nUne photo.\n--b0\nContent-Type: image/jpeg; name="photo.jpg"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename="photo.jpg"\n\n`,
  );
  const size = 11 * 1024 * 1024;
  const block = Buffer.alloc(57 * 1024);
  for (let i = 0; i < block.length; i++) block[i] = (i * 7 + 13) & 0xff;
  block[0] = 0xff;
  block[1] = 0xd8;
  for (let written = 0; written < size; written += block.length) {
    const b64 = block.toString('base64');
    await write(`${b64.replace(/.{76}/g, '$&\n')}`);
  }
  await write('\n--b0--\n');
  out.end();
  await once(out, 'finish');
  return Math.ceil(size / block.length) * block.length;
}

describe('sidecar memory', () => {
  let dir: string;
  after(() => rm(dir, { recursive: true, force: true }));

  it('credits a 15 MB message with an 11 MB base64 attachment, with bounded memory', async () => {
    dir = await freshDir();
    const config = makeConfig(dir, ['smtp-attachment', 'smtp-attachment-base64']);
    await writeFile(config.verifyLog, `${session('BIG1', T0, ['util1']).join('\n')}\n`);
    const file = path.join(config.archiveDir, 'new', maildirName(T0));
    const decoded = await writeBigMessage(file, 'BIG1');
    const sidecar = new Sidecar(config);
    await sidecar.store.load();
    const baseline = process.memoryUsage();
    let peakHeap = baseline.heapUsed;
    let peakRss = baseline.rss;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakHeap = Math.max(peakHeap, m.heapUsed);
      peakRss = Math.max(peakRss, m.rss);
    }, 2);
    await sidecar.poll();
    clearInterval(sampler);
    const end = process.memoryUsage();
    peakHeap = Math.max(peakHeap, end.heapUsed);
    const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
    process.stdout.write(
      `# 15 MB message: heapUsed baseline ${mib(baseline.heapUsed)} MiB, peak +${mib(peakHeap - baseline.heapUsed)} MiB; rss baseline ${mib(baseline.rss)} MiB, peak ${mib(peakRss)} MiB\n`,
    );
    assert.deepEqual(done(sidecar), ['smtp-attachment', 'smtp-attachment-base64']);
    assert.match(
      sidecar.store.get('smtp-attachment-base64')?.evidence ?? '',
      new RegExp(`photo\\.jpg \\(image/jpeg\\), ${decoded} octets`),
    );
    assert.ok(peakHeap - baseline.heapUsed < 16 * 1024 * 1024, `heap grew by ${mib(peakHeap - baseline.heapUsed)} MiB`);
    await sidecar.close();
  });

  it('reads 2,000 messages and their log lines, credits right, and keeps its state bounded', async () => {
    dir = await freshDir();
    const config = makeConfig(dir, ['smtp-simple', 'smtp-subject', 'smtp-two-recipients', 'smtp-attachment-base64']);
    const lines: string[] = [];
    const jpeg = Buffer.from('ffd8ffe000104a46494600010100000100010000ffd9', 'hex').toString('base64');
    for (let i = 0; i < 2000; i++) {
      const queueId = `Q${String(i).padStart(6, '0')}`;
      const ms = T0 + i * 100;
      lines.push(...session(queueId, ms, i === 1999 ? ['util1', 'util11'] : ['util1'], 'util1@s01.td1.test'));
      const body =
        i === 1500
          ? `Subject: photo ${i}\nContent-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: image/jpeg; name="p.jpg"\nContent-Transfer-Encoding: base64\n\n${jpeg}\n--b--\n`
          : `Subject: message ${i}\n\ncorps\n`;
      await writeFile(path.join(config.archiveDir, 'new', maildirName(ms)), archived(queueId, body));
    }
    await writeFile(config.verifyLog, `${lines.join('\n')}\n`);
    let nowMs = T0 + 300_000;
    const sidecar = new Sidecar(config, { now: () => new Date(nowMs) });
    await sidecar.store.load();
    const rssBefore = process.memoryUsage().rss;
    const polls = await settle(sidecar);
    const stats = sidecar.stats();
    const rssAfter = process.memoryUsage().rss;
    process.stdout.write(
      `# 2,000 messages in ${polls} polls: ${stats.queueIds} queue ids held, ${stats.pendingMessages} messages pending, ${stats.archive.seen} names remembered; rss ${(rssBefore / 1048576).toFixed(1)} → ${(rssAfter / 1048576).toFixed(1)} MiB\n`,
    );
    assert.deepEqual(done(sidecar), ['smtp-simple', 'smtp-subject', 'smtp-two-recipients', 'smtp-attachment-base64']);
    assert.match(sidecar.store.get('smtp-attachment-base64')?.evidence ?? '', /Q001500/);
    assert.match(sidecar.store.get('smtp-two-recipients')?.evidence ?? '', /Q001999/);
    assert.ok(stats.queueIds <= 5000);
    assert.equal(stats.pendingMessages, 0, 'every archived message was tied and let go');
    assert.equal(stats.archive.seen, 2000);
    // An hour later, nothing of it is held any more.
    nowMs += 3600_000 + 1000;
    await sidecar.poll();
    assert.equal(sidecar.stats().queueIds, 0);
    await sidecar.close();
  });

  it('drops the oldest queue ids beyond its cap', async () => {
    dir = await freshDir();
    const config = makeConfig(dir, ['smtp-subject']);
    const lines: string[] = [];
    for (let i = 0; i < 2000; i++) lines.push(...session(`C${i}`, T0 + i, ['util1']));
    await writeFile(config.verifyLog, `${lines.join('\n')}\n`);
    const sidecar = new Sidecar(config, { maxQueueIds: 100 });
    await sidecar.store.load();
    await settle(sidecar);
    const stats = sidecar.stats();
    assert.ok(stats.queueIds <= 100, `${stats.queueIds} queue ids`);
    assert.ok(stats.dropped >= 1900);
    // The newest ones are still there: their archived copy is tied.
    await writeFile(path.join(config.archiveDir, 'new', maildirName(T0)), archived('C1999', 'Subject: dernier\n\nx\n'));
    await sidecar.poll();
    assert.deepEqual(done(sidecar), ['smtp-subject']);
    await sidecar.close();
  });
});

/** A free TCP port on the loopback. */
async function freePort(): Promise<number> {
  const probe = http.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  probe.close();
  return port;
}

/** The node flags of the sidecar image's ENTRYPOINT, so that this test measures what runs in a class. */
async function imageNodeFlags(): Promise<string[]> {
  const dockerfile = await readFile(new URL('../../../images/sidecar/Dockerfile', import.meta.url), 'utf8');
  const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
  return entrypoint.filter((a) => a.startsWith('--'));
}

describe('the bundled sidecar, with the heap flags of its image', () => {
  let dir: string;
  after(() => rm(dir, { recursive: true, force: true }));

  it(
    'stays under 80 MiB RSS (its limit is 128) after a 15 MB message and after 2,000 messages',
    { timeout: 120_000 },
    async (t) => {
      const bundle = new URL('../../sidecar/sidecar.mjs', import.meta.url);
      if (process.platform !== 'linux') return t.skip('reads /proc');
      dir = await freshDir();
      const config = makeConfig(dir, ['smtp-simple', 'smtp-subject', 'smtp-attachment-base64', 'smtp-two-recipients']);
      await writeFile(config.verifyLog, `${session('BIG1', T0, ['util1']).join('\n')}\n`);
      await writeBigMessage(path.join(config.archiveDir, 'new', maildirName(T0)), 'BIG1');
      const port = await freePort();
      const child = spawn(process.execPath, [...(await imageNodeFlags()), bundle.pathname], {
        env: {
          PATH: process.env.PATH,
          LABCTL_LAB: JSON.stringify({
            labName: config.labName,
            labTitle: config.labTitle,
            exercises: config.exercises,
            evidence: config.evidence,
          }),
          LABCTL_CARD: JSON.stringify(config.card),
          LABCTL_ADMIN_KEY: 't',
          LABCTL_STUDENT_KEY: 'k',
          LABCTL_VERIFY_LOG: config.verifyLog,
          LABCTL_ARCHIVE_DIR: config.archiveDir,
          LABCTL_STATE_FILE: config.stateFile,
          LABCTL_PORT: String(port),
          LABCTL_POLL_MS: '50',
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      const rss = async () =>
        Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${child.pid}/status`, 'utf8'))?.[1]) * 1024;
      const progress = () =>
        new Promise<string[]>((resolve) => {
          http
            .get({ host: '127.0.0.1', port, path: '/api/progress', headers: { authorization: 'Bearer t' } }, (res) => {
              let text = '';
              res.on('data', (c: Buffer) => (text += c.toString()));
              res.on('end', () => {
                const body = JSON.parse(text) as { exercises: { id: string; done: boolean }[] };
                resolve(body.exercises.filter((e) => e.done).map((e) => e.id));
              });
            })
            .on('error', () => resolve([]));
        });
      let exited: number | null | undefined;
      child.on('exit', (code) => (exited = code));
      const until = async (ids: string[]) => {
        for (let i = 0; i < 600 && exited === undefined; i++) {
          if ((await progress()).sort().join() === [...ids].sort().join()) return;
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.fail(exited === undefined ? `not credited: ${ids.join(', ')}` : `the sidecar exited (${exited})`);
      };
      try {
        await until(['smtp-simple', 'smtp-subject', 'smtp-attachment-base64']);
        const afterBig = await rss();
        const lines: string[] = [];
        for (let i = 0; i < 2000; i++) {
          const queueId = `R${String(i).padStart(6, '0')}`;
          const ms = T0 + 1000 + i * 100;
          lines.push(...session(queueId, ms, i === 1999 ? ['util1', 'util11'] : ['util1'], 'util1@s01.td1.test'));
          await writeFile(
            path.join(config.archiveDir, 'new', maildirName(ms)),
            archived(queueId, `Subject: message ${i}\n\ncorps\n`),
          );
        }
        await appendFile(config.verifyLog, `${lines.join('\n')}\n`);
        await until(['smtp-simple', 'smtp-subject', 'smtp-two-recipients', 'smtp-attachment-base64']);
        // Let the last polls read the rest of the archive.
        await new Promise((r) => setTimeout(r, 1000));
        const after2000 = await rss();
        const mib = (n: number) => (n / 1048576).toFixed(1);
        process.stdout.write(
          `# bundled sidecar RSS: ${mib(afterBig)} MiB after the 15 MB message, ${mib(after2000)} MiB after 2,000 more\n`,
        );
        // Well under the container's 128 MiB. The bound was 64 MiB, but RSS after the 2,000 messages moves by some
        // 6 MiB from run to run with the collector's timing (59.6 and 65.2 MiB measured, same code): 80 keeps the
        // margin and stops the flake, and a leak of the 2,000 messages' state would still cross it.
        assert.ok(afterBig < 80 * 1048576, `RSS ${mib(afterBig)} MiB after the big message`);
        assert.ok(after2000 < 80 * 1048576, `RSS ${mib(after2000)} MiB after 2,000 messages`);
      } finally {
        if (exited === undefined) {
          child.kill('SIGTERM');
          await once(child, 'exit');
        }
      }
    },
  );
});

describe('sidecar health', () => {
  let dir: string;
  after(() => rm(dir, { recursive: true, force: true }));

  it('answers 503 with a reason when no poll completed for 3 idle poll periods (15 s)', async () => {
    dir = await freshDir();
    let nowMs = T0;
    const sidecar = new Sidecar(makeConfig(dir), { now: () => new Date(nowMs) });
    await sidecar.store.load();
    const server = createServer(sidecar).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const health = () =>
      new Promise<{ status: number; body: { status: string; reason?: string } }>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: '/health' }, (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
          })
          .on('error', reject);
      });
    try {
      assert.equal((await health()).status, 200, 'just started');
      nowMs += 16_000;
      const stalled = await health();
      assert.equal(stalled.status, 503);
      assert.equal(stalled.body.status, 'stalled');
      assert.match(stalled.body.reason ?? '', /no poll completed/);
      await sidecar.poll();
      assert.equal((await health()).status, 200);
      nowMs += 14_900;
      assert.equal((await health()).status, 200);
      nowMs += 200;
      assert.equal((await health()).status, 503);
    } finally {
      server.close();
      server.closeAllConnections();
      await sidecar.close();
    }
  });
});

describe("sidecar health: the server's listeners", () => {
  let dir: string;
  after(() => rm(dir, { recursive: true, force: true }));

  it('gives what the mail server wrote of its listeners, and nothing from a file out of its form', async () => {
    dir = await freshDir();
    const config = makeConfig(dir);
    const sidecar = new Sidecar(config);
    await sidecar.store.load();
    const server = createServer(sidecar).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const health = () =>
      new Promise<{ listeners?: unknown }>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: '/health' }, (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve(JSON.parse(text)));
          })
          .on('error', reject);
      });
    try {
      assert.equal((await health()).listeners, undefined, 'no file yet: a server starting');
      await writeFile(config.listenersFile, 'smtp 25 listening 0\npop3 110 closed 0\nimap 143 stuck 3\n');
      assert.deepEqual((await health()).listeners, {
        smtp: { port: 25, state: 'listening', waiting: 0 },
        pop3: { port: 110, state: 'closed', waiting: 0 },
        imap: { port: 143, state: 'stuck', waiting: 3 },
      });
      await writeFile(config.listenersFile, 'smtp 25 listening 0\nsmtp 25 listening 0\n');
      assert.equal((await health()).listeners, undefined, 'a service twice');
      await writeFile(config.listenersFile, 'smtp 25 answering 0\n');
      assert.equal((await health()).listeners, undefined, 'a state it does not know');
    } finally {
      server.close();
      server.closeAllConnections();
      await sidecar.close();
    }
  });
});

describe('sidecar health, when polls fail', () => {
  let dir: string;
  const config = (d: string) => makeConfig(d);
  after(() => rm(dir, { recursive: true, force: true }));

  it('gives the last error as part of the reason', async () => {
    dir = await freshDir();
    await writeFile(config(dir).verifyLog, POP(T0));
    let nowMs = T0;
    const sidecar = new Sidecar(config(dir), { now: () => new Date(nowMs) });
    sidecar.store.merge = () => Promise.reject(new Error('disk on fire'));
    await assert.rejects(sidecar.poll());
    nowMs += 16_000;
    const health = sidecar.health();
    assert.equal(health.status, 'stalled');
    assert.match('reason' in health ? health.reason : '', /since the start; last error: disk on fire/);
    await sidecar.close();
  });

  it('keeps polling when its progress cannot be saved, and says so (unsaved)', async () => {
    dir = await freshDir();
    await writeFile(path.join(dir, 'not-a-dir'), '');
    const unwritable = { ...makeConfig(dir), stateFile: path.join(dir, 'not-a-dir/progress.json') };
    await writeFile(unwritable.verifyLog, POP(T0));
    const sidecar = new Sidecar(unwritable, { now: () => new Date(T0) });
    await sidecar.poll();
    assert.ok(sidecar.progress().exercises.find((e) => e.id === 'pop-login')?.done);
    const health = sidecar.health();
    assert.equal(health.status, 'unsaved');
    assert.match('reason' in health ? health.reason : '', /cannot save progress to .*not-a-dir/);
    await sidecar.close();
  });
});

describe('student keys', () => {
  it('are stable for a student, differ between students and classes', () => {
    assert.equal(studentKey('class-a', 1), studentKey('class-a', 1));
    assert.notEqual(studentKey('class-a', 1), studentKey('class-a', 2));
    assert.notEqual(studentKey('class-a', 1), studentKey('class-b', 1));
    assert.match(studentKey('class-a', 1), /^[\w-]{16}$/);
  });

  it('are compared whole', () => {
    assert.equal(sameSecret('abc', 'abc'), true);
    assert.equal(sameSecret('ab', 'abc'), false);
    assert.equal(sameSecret(undefined, 'abc'), false);
  });
});
