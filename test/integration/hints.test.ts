import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import type { ClassInfo } from '../../src/core/class-model.js';
import type { Progress } from '../../src/core/wire.js';
import { launchBrowser } from '../helpers/browser.js';
import { BIN, labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { cleanClass } from '../helpers/docker.js';
import { freeBasePort } from '../helpers/ports.js';
import { Session, SMTP_FINAL } from '../helpers/session.js';
import { sshRun } from '../helpers/ssh.js';
import { classBoard, MULTIPART_BODY, popSession, sidecarSettled } from '../helpers/td.js';

const CLASS = `wh${process.pid}`;
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
let info: ClassInfo;
let base = 0;
let browser: Browser;
/** The student's page, open in Chromium from the start: it must update itself (server-sent events). */
let studentPage: Page;
const page = () => info.students[0]!.page!;
const port = (service: string) => info.students[0]!.ports[service]!;

/** What the student's page's API says (with the key of their page address, as the page itself asks). */
async function progress(): Promise<Progress> {
  const res = await fetch(page().replace('/?k=', '/api/progress?k='));
  assert.equal(res.status, 200);
  return (await res.json()) as Progress;
}

const exercise = (p: Progress, id: string) => p.exercises.find((e) => e.id === id)!;

async function waitFor(what: string, test: (p: Progress) => boolean): Promise<Progress> {
  let last: Progress | undefined;
  for (let i = 0; i < 60; i++) {
    last = await progress();
    if (test(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`${what}; the sidecar says ${JSON.stringify(last?.exercises)}`);
}

/** The student's page, and its list item for one exercise. */
async function pageItem(id: string): Promise<string> {
  const html = await (await fetch(page())).text();
  const item = new RegExp(`<li id="ex-${id}"[\\s\\S]*?</li>`).exec(html);
  assert.ok(item, `no item for ${id} on the page`);
  return item[0];
}

/** Types an SMTP dialogue over a raw socket, as in the TD: helo, mail from, rcpt to, data, the lines, a dot. */
async function typeMessage(rcpts: string[], lines: string[]): Promise<string> {
  const s = await Session.open(port('smtp'));
  try {
    await s.read(SMTP_FINAL);
    await s.say('helo pv', SMTP_FINAL);
    assert.match(await s.say('mail from: util1', SMTP_FINAL), /^250 /);
    for (const r of rcpts) assert.match(await s.say(`rcpt to: ${r}`, SMTP_FINAL), /^250 /);
    assert.match(await s.say('data', SMTP_FINAL), /^354 /);
    for (const line of lines) s.type(line);
    const queued = await s.say('.', SMTP_FINAL);
    assert.match(queued, /^250 2\.0\.0 Ok: queued as /);
    await s.say('quit', SMTP_FINAL);
    return /queued as (\w+)/.exec(queued)![1]!;
  } finally {
    s.close();
  }
}

/** Starts `labctl board` with `args` and reads the address it prints. */
async function startBoard(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BIN, 'board', '--class', CLASS, ...args], {
    env: { ...process.env, CI: '1' },
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /(http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('close', (code) => reject(new Error(`board exited ${code}`)));
  });
  return { child, url };
}

describe('hints on the student page, and stuck students on the board', { timeout: 600_000 }, () => {
  before(async () => {
    await cleanClass(CLASS);
    base = await freeBasePort(1);
    const up = await labctl(upArgs(CLASS, 1, base));
    assert.equal(up.code, 0, up.stderr);
    info = await labctlJson<ClassInfo>(['info', '--class', CLASS]);
    browser = await launchBrowser();
    studentPage = await browser.newPage();
    await studentPage.goto(page());
  });
  after(async () => {
    await browser?.close();
    await cleanClass(CLASS);
  });

  it('gives no hint while the student has done nothing (labctl up probed every port)', async () => {
    const p = await progress();
    assert.deepEqual(
      p.exercises.filter((e) => e.hint !== undefined),
      [],
    );
    assert.doesNotMatch(await pageItem('smtp-attachment'), /<div class="hint">/);
    assert.equal(await studentPage.isVisible('#ex-smtp-attachment .hint'), false);
  });

  it('a multipart message with no attachment gets a hint in French; done right, the hint goes', async () => {
    const queueId = await typeMessage(
      ['util11'],
      [
        'Subject: deux parties',
        'Content-Type: multipart/mixed; boundary="XYZ"',
        '',
        '--XYZ',
        'Content-Type: text/plain',
        '',
        'Bonjour.',
        '--XYZ',
        'Content-Type: text/plain',
        '',
        'Encore du texte.',
        '--XYZ--',
      ],
    );
    const hint = `votre message multi-parties ${queueId} n'a pas de partie marquée comme pièce jointe`;
    const p = await waitFor('no hint for smtp-attachment', (x) => exercise(x, 'smtp-attachment').hint === hint);
    assert.equal(exercise(p, 'smtp-attachment').done, false);
    // The same message earned smtp-simple; its evidence is in French, like the page.
    assert.match(
      exercise(p, 'smtp-simple').evidence ?? '',
      new RegExp(`^message ${queueId} reçu par SMTP, distribué à`),
    );
    assert.equal(
      exercise(p, 'smtp-two-recipients').hint,
      `votre message ${queueId} n'est arrivé qu'à un seul compte (util11)`,
    );
    const item = await pageItem('smtp-attachment');
    assert.match(item, /class="todo"/);
    assert.ok(
      item.includes(
        `<div class="hint">Indice : <span class="text">votre message multi-parties ${queueId} n&#39;a pas de partie`,
      ),
      item,
    );
    // The page open since the start shows it without a reload, next to the exercise.
    await studentPage.waitForSelector('#ex-smtp-attachment .hint:not([hidden])', { timeout: 15_000 });
    assert.equal(await studentPage.innerText('#ex-smtp-attachment .hint'), `Indice : ${hint}`);
    assert.equal(await studentPage.isVisible('#ex-smtp-subject .hint'), false, 'the message had a Subject');
    await mkdir(ARTIFACTS, { recursive: true });
    await studentPage.screenshot({ path: `${ARTIFACTS}student-hint.png`, fullPage: true });

    await typeMessage(['util1', 'util11'], MULTIPART_BODY);
    // Two deliveries, seen one after the other: the hint of smtp-two-recipients goes with the second.
    const fixed = await waitFor(
      'smtp-attachment and smtp-two-recipients not credited',
      (x) => exercise(x, 'smtp-attachment').done && exercise(x, 'smtp-two-recipients').done,
    );
    assert.equal(exercise(fixed, 'smtp-attachment').hint, undefined);
    assert.equal(exercise(fixed, 'smtp-two-recipients').hint, undefined);
    assert.match(exercise(fixed, 'smtp-attachment').evidence ?? '', /pièce jointe fichier\.txt/);
    const after = await pageItem('smtp-attachment');
    assert.match(after, /class="done"/);
    assert.match(after, /<div class="hint" hidden>Indice : <span class="text"><\/span><\/div>/);
    await studentPage.waitForSelector('#ex-smtp-attachment.done', { timeout: 15_000 });
    assert.equal(await studentPage.isVisible('#ex-smtp-attachment .hint'), false);
    assert.match(await studentPage.innerText('#ex-smtp-attachment .evidence'), /pièce jointe fichier\.txt/);
  });

  it('a failed POP login gets a hint, but not one a student forges with logger; a good login removes it', async () => {
    const password = info.students[0]!.accounts[0]!.password;
    const forged = await sshRun(
      port('ssh'),
      'util1',
      password,
      "logger -p mail.info -t pop3d 'LOGIN FAILED, user=util1, ip=[::ffff:10.213.1.1]'; echo sent",
    );
    assert.match(forged.stdout, /sent/);
    await sidecarSettled(port('web'));
    assert.equal(exercise(await progress(), 'pop-login').hint, undefined, 'a forged log line gave a hint');

    // A classmate, from their own PC, fails a login on this student's POP3 port with a "name" written for them.
    const phishing = 'Note_TD_annulée:_confirmez_votre_mot_de_passe_sur_http://u-picardie.example.net/td';
    await popSession(port('pop3'), phishing, 'x', false);
    const unknown = 'une connexion POP3 a échoué : identifiant inconnu sur ce serveur';
    await waitFor('no hint for the unknown name', (x) => exercise(x, 'pop-login').hint === unknown);
    await studentPage.waitForSelector('#ex-pop-login .hint:not([hidden])', { timeout: 15_000 });
    assert.equal(await studentPage.innerText('#ex-pop-login .hint'), `Indice : ${unknown}`);
    assert.ok(!(await studentPage.content()).includes('picardie'), 'the classmate’s text is on the page');

    await popSession(port('pop3'), 'util1', 'not-the-password', false);
    await waitFor('no hint for pop-login', (x) =>
      /connexion POP3 de « util1 » a échoué/.test(exercise(x, 'pop-login').hint ?? ''),
    );
    await popSession(port('pop3'), 'util1', password, false);
    const p = await waitFor('pop-login not credited', (x) => exercise(x, 'pop-login').done);
    assert.equal(exercise(p, 'pop-login').hint, undefined);
  });

  it('check shows the share of the class per exercise, and marks the student stuck once idle long enough', async () => {
    const text = await labctl(['check', '--class', CLASS, '--stuck', '1']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^share( +\d+%){12}\s*$/m);
    const shares = (await classBoard(CLASS)).shares;
    assert.equal(shares.find((x) => x.id === 'smtp-attachment')!.percent, 100);
    assert.equal(shares.find((x) => x.id === 'smtp-external')!.percent, 0);
    assert.doesNotMatch(text.stdout, /stuck/);
    // With no progress for 0 minutes or more (--stuck 0: now), the student with exercises left is stuck; at the
    // default 15 they are not. (markStuck's minutes are unit-tested: no need to wait a real minute here.)
    const stuck = await labctl(['check', '--class', CLASS, '--stuck', '0']);
    assert.match(stuck.stdout, /^1 .* stuck: no progress for \d+ min$/m);
    assert.match(stuck.stdout, /^1 stuck \(no progress for 0 min or more\): student 1$/m);
    const json = await classBoard(CLASS, ['--stuck', '0']);
    assert.equal(
      json.students[0]!.stuckMinutes,
      Math.floor((Date.now() - Date.parse(json.students[0]!.lastProgressAt!)) / 60_000),
    );
    assert.equal(json.shares.find((x) => x.id === 'pop-login')!.percent, 100);
    const relaxed = await labctl(['check', '--class', CLASS]);
    assert.doesNotMatch(relaxed.stdout, /stuck/);

    // The board, as the instructor sees it: a yellow row, and the share of the class under each exercise.
    const { child, url } = await startBoard(['--port', String(base + 90), '--stuck', '0']);
    try {
      const board = await browser.newPage();
      await board.goto(url);
      assert.equal(await board.getAttribute('#student-1', 'class'), 'stuck');
      assert.match(await board.innerText('#student-1 .state'), /^stuck: no progress for \d+ min$/);
      assert.equal(await board.innerText('#share-smtp-attachment'), '100%');
      assert.equal(await board.innerText('#share-smtp-external'), '0%');
      await board.screenshot({ path: `${ARTIFACTS}board-stuck.png`, fullPage: true });
      await board.close();
    } finally {
      const exited = new Promise((r) => child.on('close', r));
      child.kill('SIGINT');
      await exited;
    }
  });
});
