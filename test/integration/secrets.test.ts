import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Board } from '../../src/core/board-model.js';
import type { ClassInfo } from '../../src/core/class-model.js';
import type { ResetResult } from '../../src/commands/reset.js';
import { labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { cleanClass, docker, labelled } from '../helpers/docker.js';
import { freeBasePort } from '../helpers/ports.js';
import { Session, SMTP_FINAL } from '../helpers/session.js';
import { classBoard } from '../helpers/td.js';

const CLASS = `sec-${process.pid}`;
const BIN = fileURLToPath(new URL('../../../bin/labctl.js', import.meta.url));

const mode = async (file: string) => (await stat(file)).mode & 0o777;

async function sendMail(port: number): Promise<void> {
  const s = await Session.open(port);
  await s.read(SMTP_FINAL);
  await s.say('helo pv', SMTP_FINAL);
  await s.say('mail from: util1', SMTP_FINAL);
  await s.say('rcpt to: util11', SMTP_FINAL);
  await s.say('data', SMTP_FINAL);
  s.type('Subject: secrets');
  s.type('');
  s.type('bonjour');
  await s.say('.', SMTP_FINAL);
  await s.say('quit', SMTP_FINAL);
  s.close();
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  let v = await fn();
  for (let i = 0; i < 60 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 250));
    v = await fn();
  }
  assert.ok(ok(v), `${what}: ${JSON.stringify(v)}`);
  return v;
}

const smtpSimple = (board: Board, n: number) =>
  board.students.find((s) => s.student === n)?.exercises.find((e) => e.id === 'smtp-simple')?.done;

describe('secrets with the least power', { timeout: 600_000 }, () => {
  let info: ClassInfo;
  let token: string;
  let base: number;
  let dataDir: string;

  before(async () => {
    await cleanClass(CLASS);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'labctl-sec-'));
    process.env.LABCTL_DATA_DIR = path.join(dataDir, 'data');
    base = await freeBasePort(2);
    const up = await labctl(upArgs(CLASS, 2, base));
    assert.equal(up.code, 0, up.stderr);
    assert.match(
      up.stderr,
      /master2021 on every server.*--passwords random/,
      'up says what the shared password allows',
    );
    info = await labctlJson<ClassInfo>(['info', '--class', CLASS]);
    const sidecar = await docker.getContainer(`labctl-${CLASS}-s01-sidecar`).inspect();
    token = sidecar.Config.Labels['dev.labctl.token']!;
    assert.ok(token && token.length > 10);
  });
  after(async () => {
    await cleanClass(CLASS);
    await rm(dataDir, { recursive: true, force: true });
    delete process.env.LABCTL_DATA_DIR;
  });

  it('puts the class token in no container environment', async () => {
    const { containers } = await labelled(CLASS);
    assert.equal(containers.length, 4);
    const adminKeys = new Set<string>();
    for (const c of containers) {
      const inspect = await docker.getContainer(c.Id).inspect();
      const env = inspect.Config.Env ?? [];
      assert.ok(!JSON.stringify(env).includes(token), `${c.Names[0]}: the token is in its environment`);
      if (inspect.Config.Labels['dev.labctl.role'] === 'mail') {
        assert.ok(!JSON.stringify(inspect).includes(token), `${c.Names[0]}: the token is in its inspect`);
        continue;
      }
      const names = env.map((e) => e.slice(0, e.indexOf('=')));
      assert.ok(names.includes('LABCTL_ADMIN_KEY') && names.includes('LABCTL_STUDENT_KEY'), names.join(' '));
      assert.ok(!names.includes('LABCTL_TOKEN'));
      adminKeys.add(env.find((e) => e.startsWith('LABCTL_ADMIN_KEY='))!);
    }
    assert.equal(adminKeys.size, 2, 'each sidecar has its own admin key');
  });

  it('check and reset --progress still work, each with the student’s admin key; the backup is private', async () => {
    await sendMail(info.students[0]!.ports.smtp!);
    const credited = await until(
      () => classBoard(CLASS),
      (b) => smtpSimple(b, 1) === true,
      'student 1 credited',
    );
    assert.ok(credited.students.every((s) => s.error === undefined));

    const reset = await labctlJson<ResetResult>([
      'reset',
      '--class',
      CLASS,
      '--student',
      '1',
      '--progress',
      '--backup',
      '--yes',
    ]);
    assert.deepEqual(reset.progressCleared, [1]);
    const after = await classBoard(CLASS);
    assert.equal(smtpSimple(after, 1), false);
    assert.ok(after.students.every((s) => s.error === undefined));

    assert.equal(reset.backups.length, 1);
    assert.equal(await mode(reset.backups[0]!), 0o600);
    assert.equal(await mode(path.dirname(reset.backups[0]!)), 0o700);
  });

  it('prints a board address whose key is not the token and cannot reset a sidecar', async () => {
    const port = base + 90;
    const child: ChildProcess = spawn(
      process.execPath,
      [BIN, 'board', '--class', CLASS, '--port', String(port), '--listen', '0.0.0.0'],
      { env: { ...process.env, CI: '1' } },
    );
    try {
      const printed = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (c: Buffer) => {
          out += c.toString();
          if (/http:\/\/\S+/.test(out)) resolve(out);
        });
        child.on('close', (code) => reject(new Error(`board exited ${code}`)));
      });
      assert.ok(!printed.includes(token), printed);
      const url = new URL(/(http:\/\/\S+)/.exec(printed)![1]!.replace('THIS-HOST', '127.0.0.1'));
      const key = url.searchParams.get('key');
      assert.ok(key && key.length >= 20 && key !== token, printed);
      const opened = await fetch(url, { redirect: 'manual' });
      assert.equal(opened.status, 303);
      assert.match(String(opened.headers.get('set-cookie')), /^labctl_board=/);

      const sidecar = `http://127.0.0.1:${info.students[0]!.ports.web}`;
      const withKey = await fetch(`${sidecar}/api/reset-progress`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}` },
      });
      assert.equal(withKey.status, 401);
      assert.equal((await fetch(`${sidecar}/api/reset-progress?k=${key}`, { method: 'POST' })).status, 401);
      assert.equal((await fetch(`${sidecar}/api/progress?k=${key}`)).status, 403);
      const withToken = await fetch(`${sidecar}/api/reset-progress`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(withToken.status, 401, 'the sidecar does not know the class token');
    } finally {
      const exited = new Promise((r) => child.on('close', r));
      child.kill('SIGINT');
      await exited;
    }
  });

  it('writes info --output readable by its owner only, even over an existing file', async () => {
    const file = path.join(dataDir, 'f.html');
    await writeFile(file, 'old', { mode: 0o644 });
    const result = await labctl(['info', '--class', CLASS, '--format', 'html', '--output', file]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await mode(file), 0o600);
  });
});
