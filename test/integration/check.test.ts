import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Board } from '../../src/core/board-model.js';
import type { ClassInfo } from '../../src/core/class-model.js';
import { labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { cleanClass, docker } from '../helpers/docker.js';
import { freeBasePort } from '../helpers/ports.js';
import {
  ALL_EXERCISES,
  classBoard,
  doneIds,
  imapSession,
  MULTIPART_BODY,
  popSession,
  smtpSession,
  sidecarSettled,
  waitForCredits as waitCredits,
} from '../helpers/td.js';

const CLASS = `ck${process.pid}`;
let base = 0;
let info: ClassInfo;
const port = (student: number, service: string) => info.students[student - 1]!.ports[service]!;
const domain = (student: number) => info.students[student - 1]!.domain;

const smtp = (student: number, from: string, rcpts: string[], body: string[]) =>
  smtpSession(port(student, 'smtp'), from, rcpts, body);
const pop = (student: number, user: string, password: string, retr: boolean) =>
  popSession(port(student, 'pop3'), user, password, retr);
const imap = (student: number, user: string, password: string, fetch: boolean) =>
  imapSession(port(student, 'imap'), user, password, fetch);
const board = () => classBoard(CLASS);
const waitForCredits = (ids: string[]) => waitCredits(CLASS, 1, ids);
const ALL = ALL_EXERCISES;

describe('the sidecars and labctl check', { timeout: 600_000 }, () => {
  before(async () => {
    await cleanClass(CLASS);
    base = await freeBasePort(2);
    const up = await labctl(upArgs(CLASS, 2, base));
    assert.equal(up.code, 0, up.stderr);
    info = await labctlJson<ClassInfo>(['info', '--class', CLASS]);
  });
  after(() => cleanClass(CLASS));

  it('lists every exercise for every student, none done at the start', async () => {
    const b = await board();
    assert.equal(b.lab, 'smtp-pop-imap');
    assert.deepEqual(
      b.students.map((s) => s.student),
      [1, 2],
    );
    for (const s of b.students) {
      assert.deepEqual(
        s.exercises.map((e) => e.id),
        ALL,
      );
      assert.ok(s.exercises.every((e) => !e.done && e.at === null && e.evidence === null));
    }
  });

  it('gives no credit for doing things wrong', async () => {
    await pop(1, 'util1', 'wrong', false);
    await imap(1, 'util1', 'wrong', false);
    await smtp(1, 'util1', ['util11'], ['', 'pas de sujet', '']);
    await smtp(
      1,
      'util1',
      ['util11'],
      [
        'Content-Type: multipart/mixed; boundary=------------0000000000',
        '',
        '--------------0000000000',
        'Content-Type: text/plain',
        '',
        'seulement du texte, aucune piece jointe',
        '--------------0000000000--',
      ],
    );
    await waitForCredits(['smtp-simple']);
    // Once the sidecar has read everything, assert what it did not credit.
    await sidecarSettled(port(1, 'web'));
    assert.deepEqual(doneIds(await board(), 1), ['smtp-simple']);
  });

  it('credits each exercise of the TD, typed as the TD types it, with evidence', async () => {
    await smtp(1, 'president@u-picardie.fr', ['util1', 'util11'], ['Subject: test', '', 'test envoie president', '']);
    await smtp(1, 'util1', ['util11'], MULTIPART_BODY);
    await smtp(
      1,
      'util1',
      ['util11'],
      [`From: util1@${domain(1)}`, `To: util11@${domain(1)}`, 'Subject: entetes', '', 'corps', ''],
    );
    await smtp(1, 'util1', ['pascal.vaniet@u-picardie.fr'], []);
    await pop(1, 'util11', 'master2021', true);
    await imap(1, 'util11', 'master2021', true);
    const b = await waitForCredits(ALL);
    const s1 = b.students.find((s) => s.student === 1)!;
    assert.deepEqual(doneIds(b, 1), ALL);
    for (const e of s1.exercises) {
      assert.match(e.at ?? '', /^\d{4}-\d\d-\d\dT/, `${e.id} has a time`);
      assert.ok(e.evidence && e.evidence.length > 0, `${e.id} has evidence`);
    }
    assert.match(s1.exercises.find((e) => e.id === 'smtp-spoofed-sender')!.evidence!, /president@u-picardie\.fr/);
    assert.match(s1.exercises.find((e) => e.id === 'smtp-external')!.evidence!, /pascal\.vaniet@u-picardie\.fr/);
    assert.deepEqual(doneIds(b, 2), [], 'student 2 did nothing and has no credit');
  });

  it('shows the board as a table and as a grading sheet', async () => {
    const text = await labctl(['check', '--class', CLASS]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^1 +(✔ +){12}12\/12/m);
    assert.match(text.stdout, /^2 +(· +){12}0\/12/m);
    const csv = await labctl(['check', '--class', CLASS, '--csv']);
    const lines = csv.stdout.split('\n');
    assert.equal(lines[0], `student,${ALL.join(',')},done,total,status,${ALL.map((id) => `${id} time`).join(',')}`);
    // Then when each was first credited: the times `check --json` gives.
    const s1 = (await board()).students.find((s) => s.student === 1)!;
    const at = ALL.map((id) => s1.exercises.find((e) => e.id === id)!.at);
    assert.ok(
      at.every((t) => t && /^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(t)),
      at.join(' '),
    );
    assert.equal(lines[1], `1,${ALL.map(() => 1).join(',')},12,12,ok,${at.join(',')}`);
    assert.equal(lines[2], `2,${ALL.map(() => 0).join(',')},0,12,ok${','.repeat(ALL.length)}`);
  });

  it('--watch redraws the board until Ctrl-C', async () => {
    const bin = fileURLToPath(new URL('../../../bin/labctl.js', import.meta.url));
    const child = spawn(process.execPath, [bin, 'check', '--class', CLASS, '--watch']);
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    for (let i = 0; i < 300 && (out.match(/\(updated /g)?.length ?? 0) < 2; i++)
      await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    assert.ok((out.match(/^1 +(✔ +){12}12\/12/gm)?.length ?? 0) >= 2, out);
    const both = await labctl(['check', '--class', CLASS, '--watch', '--json']);
    assert.equal(both.code, 2);
  });

  it('serves the student their page in French with their key, and nobody else', async () => {
    const page1 = info.students[0]!.page!;
    assert.match(page1, new RegExp(`^http://127\\.0\\.0\\.1:${port(1, 'web')}/\\?k=[\\w-]{16}$`));
    const page = await fetch(page1);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /Exercices réalisés : <span id="score">12 \/ 12<\/span>/);
    assert.ok(html.includes(`telnet 127.0.0.1 ${port(1, 'smtp')}`));
    assert.equal((await fetch(`http://127.0.0.1:${port(1, 'web')}/`)).status, 403);
    const key1 = new URL(page1).searchParams.get('k')!;
    const other = await fetch(`http://127.0.0.1:${port(2, 'web')}/api/progress?k=${key1}`);
    assert.equal(other.status, 403, "student 1's key does not open student 2's data");
    const reset = await fetch(`http://127.0.0.1:${port(1, 'web')}/api/reset-progress?k=${key1}`, { method: 'POST' });
    assert.equal(reset.status, 401, 'a student cannot reset progress');
    assert.equal((await fetch(`http://127.0.0.1:${port(1, 'web')}/health`)).status, 200);
  });

  it('pushes a new result to the open page as it happens', async () => {
    const stream = await fetch(`${info.students[1]!.page!.replace('/?k=', '/api/stream?k=')}`);
    const reader = stream.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const first = await reader.read();
    text += decoder.decode(first.value);
    assert.match(text, /"done":0/);
    await smtp(2, 'util2', ['util12'], ['Subject: direct', '', 'en direct', '']);
    const deadline = Date.now() + 10_000;
    while (!/"id":"smtp-simple"[^}]*"done":true/.test(text) && Date.now() < deadline) {
      const { value } = await reader.read();
      text += decoder.decode(value);
    }
    await reader.cancel();
    assert.match(text, /"id":"smtp-simple","title":"[^"]+","done":true/);
  });

  it('keeps progress through a restart of both containers', async () => {
    await docker.getContainer(`labctl-${CLASS}-s01-sidecar`).restart({ t: 5 });
    await docker.getContainer(`labctl-${CLASS}-s01-mail`).restart({ t: 5 });
    let b = await board();
    for (let i = 0; i < 20 && b.students[0]!.error; i++) {
      await new Promise((r) => setTimeout(r, 250));
      b = await board();
    }
    assert.deepEqual(doneIds(b, 1), ALL);
  });

  it('marks a student whose sidecar is down, still shows everyone else, and exits 6 (no-sidecar)', async () => {
    await docker.getContainer(`labctl-${CLASS}-s02-sidecar`).stop({ t: 5 });
    const b = await board();
    assert.match(b.students.find((s) => s.student === 2)!.error ?? '', /^sidecar exited/);
    assert.deepEqual(doneIds(b, 1), ALL);
    const text = await labctl(['check', '--class', CLASS]);
    assert.equal(text.code, 6, text.stderr);
    assert.match(text.stdout, /^1 .*12\/12/m);
    assert.match(text.stdout, /^2 .*0\/12 +sidecar exited$/m);
    assert.match(text.stderr, /student 2's progress: sidecar exited\./);
    const sheet = await labctl(['check', '--class', CLASS, '--csv', '--json']);
    assert.equal(sheet.code, 2, 'csv and json are two outputs');
    const json = await labctl(['check', '--class', CLASS, '--json']);
    assert.equal(json.code, 6);
    assert.equal((JSON.parse(json.stdout) as Board).students.length, 2, 'the board is still on stdout');
    assert.equal((JSON.parse(json.stderr) as { error: { code: string } }).error.code, 'no-sidecar');
  });
});
