import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import type { ClassInfo } from '../../src/core/class-model.js';
import { launchBrowser } from '../helpers/browser.js';
import { labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { cleanClass, docker } from '../helpers/docker.js';
import { freeBasePort } from '../helpers/ports.js';
import { Session, SMTP_FINAL } from '../helpers/session.js';

const CLASS = `bd${process.pid}`;
const BIN = fileURLToPath(new URL('../../../bin/labctl.js', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

/** Starts `labctl board` and reads the address it prints. */
async function startBoard(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BIN, 'board', '--class', CLASS, ...args], {
    env: { ...process.env, CI: '1' },
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /(http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    child.on('close', (code) => reject(new Error(`board exited ${code}: ${err}`)));
  });
  return { child, url };
}

/** A message typed by hand, as in the TD, with a Subject. */
async function sendMessage(port: number, rcpts = ['util11']): Promise<void> {
  const s = await Session.open(port);
  await s.read(SMTP_FINAL);
  await s.say('helo pv', SMTP_FINAL);
  await s.say('mail from: util1', SMTP_FINAL);
  for (const r of rcpts) await s.say(`rcpt to: ${r}`, SMTP_FINAL);
  await s.say('data', SMTP_FINAL);
  s.type('Subject: tableau');
  s.type('');
  s.type('bonjour');
  await s.say('.', SMTP_FINAL);
  await s.say('quit', SMTP_FINAL);
  s.close();
}

async function stopBoard(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  child.kill('SIGINT');
  return exited;
}

describe('labctl board', { timeout: 600_000 }, () => {
  let info: ClassInfo;
  let browser: Browser;
  let boardPort = 0;

  before(async () => {
    await cleanClass(CLASS);
    const base = await freeBasePort(2);
    boardPort = base + 90;
    const up = await labctl(upArgs(CLASS, 2, base));
    assert.equal(up.code, 0, up.stderr);
    info = await labctlJson<ClassInfo>(['info', '--class', CLASS]);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await cleanClass(CLASS);
  });

  it('turns a cell green as a student completes an exercise, and marks a student whose environment is down', async () => {
    const { child, url } = await startBoard(['--port', String(boardPort)]);
    try {
      assert.equal(url, `http://127.0.0.1:${boardPort}/`);
      const page = await browser.newPage();
      await page.goto(url);
      assert.equal(await page.getAttribute('#cell-1-smtp-simple', 'class'), 'todo');
      assert.equal(await page.textContent('#student-1 .total'), '0/12');
      assert.match(await page.innerText('#pace'), /^No exercise done yet/);

      // Student 1 sends a message by hand, as in the TD.
      await sendMessage(info.students[0]!.ports.smtp!);

      await page.waitForSelector('#cell-1-smtp-simple.done', { timeout: 15_000 });
      await page.waitForSelector('#cell-1-smtp-subject.done', { timeout: 15_000 });
      // The class's pace: the chart counts every credit the grid shows, drawn by the page as they come.
      await page.waitForFunction(
        () => {
          const label = document.querySelector('#pace-svg')?.getAttribute('aria-label') ?? '';
          return label.startsWith(`${document.querySelectorAll('td.done').length} exercises done of 24,`);
        },
        undefined,
        { timeout: 15_000 },
      );
      assert.equal(await page.getAttribute('#cell-2-smtp-simple', 'class'), 'todo');
      assert.equal(
        await page.evaluate(() => getComputedStyle(document.querySelector('#cell-1-smtp-simple')!).backgroundColor),
        'rgb(45, 164, 78)',
      );

      await docker.getContainer(`labctl-${CLASS}-s02-sidecar`).stop({ t: 5 });
      await page.waitForSelector('#student-2.down', { timeout: 15_000 });
      // While the engine stops it, the sidecar may first refuse connections ("sidecar down"); then it has exited.
      await page.waitForFunction(
        () => /sidecar exited/.test(document.querySelector('#student-2 .state')?.textContent ?? ''),
        undefined,
        { timeout: 15_000 },
      );
      assert.equal(await page.getAttribute('#student-1', 'class'), 'up');
      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: `${ARTIFACTS}board.png`, fullPage: true });
      await page.close();
    } finally {
      assert.equal(await stopBoard(child), 0, 'Ctrl-C stops the board cleanly');
    }
  });

  it('off loopback, every request needs the board key; the projector shows an address without it', async () => {
    // Who sits where: the board shows the names, and must send nothing else of the list to the projector.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bd-roster-'));
    const list = path.join(dir, 'l3.csv');
    await writeFile(list, 'nom;prenom;email;numero;groupe\nMartin;Zoé;zoe.martin@etud.example.fr;22004817;TD3\n');
    const imported = await labctl(['roster', 'import', list, '--class', CLASS]);
    await rm(dir, { recursive: true, force: true });
    assert.equal(imported.code, 0, imported.stderr);

    const { child, url } = await startBoard(['--port', String(boardPort), '--listen', '0.0.0.0']);
    try {
      const printed = url.replace('THIS-HOST', '127.0.0.1');
      const key = new URL(printed).searchParams.get('key');
      assert.ok(key && key.length > 10, url);
      const local = `http://127.0.0.1:${boardPort}`;
      assert.equal((await fetch(`${local}/`)).status, 401);
      assert.equal((await fetch(`${local}/api/board`)).status, 401);
      assert.equal((await fetch(`${local}/?key=wrong`)).status, 401);

      // The projector's browser opens the printed address: the key goes into a cookie, out of the address bar.
      const csp: string[] = [];
      const page = await browser.newPage();
      page.on('console', (m) => /Content.Security.Policy/i.test(m.text()) && csp.push(m.text()));
      await page.goto(printed);
      assert.equal(page.url(), `${local}/`);
      assert.match(await page.innerText('h1'), new RegExp(`Class ${CLASS}`));
      assert.match(await page.innerText('#student-1 th'), /Zoé Martin/);
      const html = await page.content();
      assert.ok(!html.includes(key), 'the key is in the page');

      // What the projector's browser receives holds no e-mail and no student number.
      const cookie = (await page.context().cookies()).find((c) => c.name === 'labctl_board')!;
      const headers = { cookie: `labctl_board=${cookie.value}` };
      const json = await (await fetch(`${local}/api/board`, { headers })).text();
      assert.match(json, /Zoé Martin/);
      assert.ok(!/zoe\.martin|22004817|TD3/.test(json), json);

      // It stays live on the address without the key: student 1 writes to two accounts, the cell turns green.
      assert.equal(await page.getAttribute('#cell-1-smtp-two-recipients', 'class'), 'todo');
      await sendMessage(info.students[0]!.ports.smtp!, ['util1', 'util11']);
      await page.waitForSelector('#cell-1-smtp-two-recipients.done', { timeout: 20_000 });
      assert.deepEqual(csp, [], 'the page broke its own Content-Security-Policy');
      await page.close();

      // The address followed from a link on another site (a mail, a chat) works as well.
      const elsewhere = await browser.newContext();
      const link = await elsewhere.newPage();
      await link.setContent(`<a id="board" href="${printed}">tableau</a>`);
      await Promise.all([link.waitForURL(`${local}/`), link.click('#board')]);
      assert.match(await link.innerText('h1'), new RegExp(`Class ${CLASS}`));
      await elsewhere.close();
    } finally {
      await stopBoard(child);
    }
  });
});
