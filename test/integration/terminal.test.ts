import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import WebSocket from 'ws';
import type { ClassInfo, StudentInfo } from '../../src/core/class-model.js';
import { adminKey } from '../../src/core/token.js';
import { launchBrowser } from '../helpers/browser.js';
import { labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { cleanClass, docker, exec } from '../helpers/docker.js';
import { freeBasePort } from '../helpers/ports.js';
import { sshRun } from '../helpers/ssh.js';

const CLASS = `tm-${process.pid}`;
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

const keyOf = (s: StudentInfo) => new URL(s.page!).searchParams.get('k')!;
const wsUrl = (s: StudentInfo, key?: string) =>
  `ws://127.0.0.1:${s.ports.web}/api/terminal${key === undefined ? '' : `?k=${encodeURIComponent(key)}`}`;

/** What the upgrade got: the HTTP status of a refusal, or an open socket. */
function connect(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; ws?: WebSocket; body?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      opened.push(ws);
      resolve({ status: 101, ws });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', reject);
  });
}

/** Every WebSocket a test opened: closed after each test, so that a failure leaves no session behind. */
const opened: WebSocket[] = [];

/** A terminal over a bare WebSocket: everything it printed, and how it closed. */
class Tty {
  output = '';
  closed: { code: number; reason: string } | undefined;
  /** The output without colours and title escapes, as it reads on screen. */
  get text(): string {
    // eslint-disable-next-line no-control-regex
    return this.output.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07/g, '');
  }
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => (this.output += data.toString()));
    ws.on('close', (code: number, reason: Buffer) => (this.closed = { code, reason: reason.toString() }));
  }
  async waitFor(test: (t: Tty) => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!test(this)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(this)}`);
      await sleep(100);
    }
  }
  toJSON() {
    return { output: this.output.slice(-500), closed: this.closed };
  }
}

/**
 * What is left of `user`'s sessions in student 1's mail container: processes running as the account (the shell,
 * sshd's session child) and sshd's privileged monitor for it ("sshd: util1 [priv]", as root).
 */
async function processesOf(user: string): Promise<string[]> {
  const { output } = await exec(`labctl-${CLASS}-s01-mail`, ['ps', '-eo', 'user:20=,args=']);
  return output.split('\n').filter((line) => line.startsWith(`${user} `) || new RegExp(`sshd: ${user}\\b`).test(line));
}

/** The resident memory of student 1's sidecar (its node is pid 1), in KiB. */
async function sidecarRssKiB(): Promise<number> {
  const status = await exec(`labctl-${CLASS}-s01-sidecar`, ['cat', '/proc/1/status']);
  return Number(/VmRSS:\s+(\d+)/.exec(status.output)?.[1]);
}

async function until(fn: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(250);
  }
}

/** The terminal's screen, as the student sees it. */
const screen = (page: Page) => page.locator('#terminal .xterm-rows').innerText();

async function waitOnScreen(page: Page, pattern: RegExp, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await screen(page);
    if (pattern.test(text)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} on the terminal:\n${text}`);
    await sleep(150);
  }
}

/** Types a line into the terminal as the student does, then waits for the server's answer on screen. */
async function typeLine(page: Page, line: string, answer?: RegExp): Promise<void> {
  await page.keyboard.type(line, { delay: 5 });
  await page.keyboard.press('Enter');
  if (answer) await waitOnScreen(page, answer);
}

describe('the terminal in the student’s page', { timeout: 600_000 }, () => {
  let info: ClassInfo;
  let s1: StudentInfo;
  let s2: StudentInfo;
  let browser: Browser;
  let idleRssKiB: number;

  before(async () => {
    await cleanClass(CLASS);
    const base = await freeBasePort(2);
    // Random passwords: the terminal must log in with the student's own one, not the lab's.
    const up = await labctl([...upArgs(CLASS, 2, base), '--passwords', 'random']);
    assert.equal(up.code, 0, up.stderr);
    info = await labctlJson<ClassInfo>(['info', '--class', CLASS]);
    [s1, s2] = info.students as [StudentInfo, StudentInfo];
    assert.notEqual(s1.accounts.find((a) => a.user === 'util1')?.password, 'master2021');
    browser = await launchBrowser();
    idleRssKiB = await sidecarRssKiB();
  });
  afterEach(() => {
    for (const ws of opened.splice(0)) ws.terminate();
  });
  after(async () => {
    await browser?.close();
    await cleanClass(CLASS);
  });

  it('runs the TD’s SMTP dialogue typed into the page: the message lands in the spool, the exercise turns green', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
    const csp: string[] = [];
    page.on('console', (m) => /Content.Security.Policy/i.test(m.text()) && csp.push(m.text()));
    await page.goto(s1.page!);
    // The key leaves the address bar (a room's PCs are shared); the page works on with its cookie.
    assert.equal(page.url(), `http://127.0.0.1:${s1.ports.web}/`);
    assert.ok(!(await page.content()).includes(keyOf(s1)), 'the key is in the page');
    assert.equal(await page.getAttribute('#ex-smtp-subject', 'class'), 'todo');
    await page.click('#terminal-button');
    await page.waitForSelector('#terminal-status:has-text("Connecté")', { timeout: 20_000 });
    await waitOnScreen(page, /util1@mail\S*:~\$/);

    await typeLine(page, 'telnet localhost 25', /220 .*ESMTP/);
    await typeLine(page, 'HELO pc-salle', /250 mail\./);
    await typeLine(page, 'MAIL FROM: util1', /250 2\.1\.0 Ok/);
    await typeLine(page, 'RCPT TO: util11', /250 2\.1\.5 Ok/);
    await typeLine(page, 'DATA', /354 /);
    await typeLine(page, 'Subject: Essai depuis le terminal de la page');
    await typeLine(page, '');
    await typeLine(page, 'Bonjour, message tapé dans le navigateur.');
    await typeLine(page, '.', /250 2\.0\.0 Ok: queued as/);
    await typeLine(page, 'QUIT', /221 2\.0\.0 Bye/);

    await page.waitForSelector('#ex-smtp-simple.done', { timeout: 20_000 });
    await page.waitForSelector('#ex-smtp-subject.done', { timeout: 20_000 });
    assert.equal(await page.getAttribute('#ex-smtp-two-recipients', 'class'), 'todo');
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}terminal-smtp.png`, fullPage: true });

    const util11 = s1.accounts.find((a) => a.user === 'util11')!;
    const spool = await sshRun(s1.ports.ssh!, 'util11', util11.password, 'cat /var/spool/mail/util11');
    assert.match(spool.stdout, /^Subject: Essai depuis le terminal de la page$/m);
    assert.match(spool.stdout, /Bonjour, message tap/);

    // `mail` and `cat` of the spool work from the page's shell too, as in the TD.
    await typeLine(page, "echo 'corps du message' | mail -s 'Lu avec mail' util1");
    await typeLine(page, 'cat /var/spool/mail/util1', /^Subject: Lu avec mail$/m);
    await typeLine(page, 'mail', /Lu avec mail/);
    await typeLine(page, '1', /corps du message/);
    await typeLine(page, 'q', /Held 1 message|Saved 1 message/);
    await page.screenshot({ path: `${ARTIFACTS}terminal-mail.png`, fullPage: true });
    assert.deepEqual(csp, [], 'the page broke its own Content-Security-Policy');
    await page.close();
    await until(async () => (await processesOf('util1')).length === 0, 'the page’s session to end');
  });

  it('refuses the WebSocket without the key, with a classmate’s key, or with the key of another page (401)', async () => {
    const none = await connect(wsUrl(s1));
    assert.equal(none.status, 401);
    assert.match(none.body ?? '', /key/);
    const classmate = await connect(wsUrl(s1, keyOf(s2)));
    assert.equal(classmate.status, 401);
    const wrong = await connect(wsUrl(s1, `${keyOf(s1)}x`));
    assert.equal(wrong.status, 401);
    // The student's own key opens their own terminal only.
    const own = await connect(wsUrl(s2, keyOf(s2)));
    assert.equal(own.status, 101);
    own.ws!.close();
    // labctl's admin key for this very sidecar reads and resets progress, but opens no shell as the student.
    const token = (await docker.getContainer(`labctl-${CLASS}-s01-sidecar`).inspect()).Config.Labels[
      'dev.labctl.token'
    ]!;
    const admin = await connect(wsUrl(s1), { authorization: `Bearer ${adminKey(token, 1)}` });
    assert.equal(admin.status, 401);
    assert.equal((await connect(wsUrl(s1, adminKey(token, 1)))).status, 401);
    const otherAdmin = await connect(wsUrl(s1), { authorization: `Bearer ${adminKey(token, 2)}` });
    assert.equal(otherAdmin.status, 401);
    assert.deepEqual(await processesOf('util1'), [], 'no session was opened');
  });

  it('opens no terminal for a page of another origin, in a browser that holds the student’s cookie', async () => {
    // Another web page on the same host is the same site: the browser sends the page's SameSite cookie with it.
    const evil = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>Résultats du TD</title><p>Chargement…</p>');
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    const context = await browser.newContext();
    try {
      const own = await context.newPage();
      await own.goto(s1.page!);
      assert.ok((await context.cookies()).some((c) => c.name === 'labctl_' + CLASS + '_s01'));
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
      const attempt = await page.evaluate(
        (url) =>
          new Promise<string>((resolve) => {
            const ws = new WebSocket(url);
            ws.binaryType = 'arraybuffer';
            let text = '';
            ws.onmessage = (e) => {
              text += new TextDecoder().decode(e.data as ArrayBuffer);
              if (/\$ $/.test(text)) resolve(`shell: ${text}`);
            };
            ws.onclose = (e) => resolve(`closed ${e.code}`);
          }),
        `ws://127.0.0.1:${s1.ports.web}/api/terminal`,
      );
      assert.match(attempt, /^closed /);
      assert.deepEqual(await processesOf('util1'), [], 'no session was opened');
    } finally {
      await context.close();
      evil.close();
    }
  });

  it('gives a student three sessions at once and refuses the fourth with a message; RSS with three open', async (t) => {
    const ttys: Tty[] = [];
    for (let i = 0; i < 3; i++) {
      const { status, ws } = await connect(wsUrl(s1, keyOf(s1)));
      assert.equal(status, 101);
      const tty = new Tty(ws!);
      ttys.push(tty);
      await tty.waitFor((x) => /util1@mail\S*:~\$/.test(x.text), `prompt of session ${i + 1}`);
    }
    // Each is a real shell of the student's account.
    ttys[0]!.ws.send(Buffer.from('id -un; echo fin-$((6*7))\r'));
    await ttys[0]!.waitFor((x) => /util1\r?\n/.test(x.text) && /fin-42/.test(x.text), 'the command output');

    const fourth = await connect(wsUrl(s1, keyOf(s1)));
    const refused = new Tty(fourth.ws!);
    await refused.waitFor((x) => x.closed !== undefined, 'the fourth session to be closed');
    assert.equal(refused.closed!.code, 4429);
    assert.match(refused.closed!.reason, /Déjà 3 terminaux ouverts/);
    assert.equal(refused.output, '', 'no shell for the fourth');
    // In the page, the student reads why.
    const page = await browser.newPage();
    await page.goto(s1.page!);
    await page.click('#terminal-button');
    await page.waitForSelector('#terminal-status:has-text("Déjà 3 terminaux ouverts")', { timeout: 15_000 });
    await waitOnScreen(page, /Déjà 3 terminaux ouverts/);
    await page.screenshot({ path: `${ARTIFACTS}terminal-refused.png` });
    await page.close();

    // The sidecar's memory with three terminals open (its limit is 128 MiB).
    const rssKiB = await sidecarRssKiB();
    const stats = await docker.getContainer(`labctl-${CLASS}-s01-sidecar`).stats({ stream: false });
    const mib = (kib: number) => (kib / 1024).toFixed(1);
    t.diagnostic(
      `sidecar VmRSS: ${mib(idleRssKiB)} MiB before any terminal, ${mib(rssKiB)} MiB with 3 open; cgroup ${mib(stats.memory_stats.usage / 1024)} MiB, pids ${stats.pids_stats?.current}`,
    );
    assert.ok(rssKiB > 0 && rssKiB < 100 * 1024, `RSS ${rssKiB} KiB`);

    // One closed, one more can open.
    ttys.pop()!.ws.close();
    await sleep(500);
    const again = await connect(wsUrl(s1, keyOf(s1)));
    const fresh = new Tty(again.ws!);
    await fresh.waitFor((x) => /util1@mail\S*:~\$/.test(x.text), 'a prompt after one was closed');
    fresh.ws.close();
    for (const tty of ttys) tty.ws.close();
    await until(async () => (await processesOf('util1')).length === 0, 'no session left');
  });

  it('ends the ssh session when the tab closes: no process of the account is left on the server', async () => {
    assert.deepEqual(await processesOf('util1'), []);
    const page = await browser.newPage();
    await page.goto(s1.page!);
    await page.click('#terminal-button');
    await waitOnScreen(page, /util1@mail\S*:~\$/);
    // A long-running command, as a student who leaves `telnet localhost 25` open.
    await typeLine(page, 'telnet localhost 25', /220 .*ESMTP/);
    const running = await processesOf('util1');
    assert.ok(
      running.some((p) => /telnet localhost 25/.test(p)),
      running.join('\n'),
    );
    await page.close();
    await until(async () => (await processesOf('util1')).length === 0, 'the session to end after the tab closed');
  });
});
