import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import ssh2, { type Connection } from 'ssh2';
import WebSocket from 'ws';
import { adminKey, studentKey } from '../../src/core/token.js';
import { terminalConfig, type TerminalConfig } from '../../src/sidecar/config.js';
import { createServer } from '../../src/sidecar/server.js';
import { Sidecar } from '../../src/sidecar/sidecar.js';
import { EventEmitter } from 'node:events';
import type { SessionPhase } from '../../src/sidecar/sidecar.js';
import { attachTerminal, type SessionWatch } from '../../src/sidecar/terminal.js';
import { makeConfig } from '../helpers/sidecar-config.js';

// ssh2 is CommonJS: Node finds Client among its named exports, not Server.
const { Server, utils } = ssh2;
const TOKEN = 'unit-test-class-token';

/**
 * A small sshd: it takes util1 with its password, opens a shell that echoes what is typed, and counts the
 * sessions still open (so a test sees the ssh side end when the page's WebSocket closes).
 */
async function fakeSshd(password: string) {
  const open = new Set<Connection>();
  const logins: string[] = [];
  const sizes: string[] = [];
  const server = new Server({ hostKeys: [utils.generateKeyPairSync('ed25519').private] }, (client) => {
    client.on('authentication', (ctx) => {
      logins.push(`${ctx.username}:${ctx.method}`);
      if (ctx.method === 'password' && ctx.username === 'util1' && ctx.password === password) ctx.accept();
      else ctx.reject(['password']);
    });
    client.on('ready', () => {
      open.add(client);
      client.on('session', (accept) => {
        const session = accept();
        session.on('pty', (ok, _reject, info) => {
          sizes.push(`pty ${info.cols}x${info.rows} ${info.term}`);
          ok?.();
        });
        session.on('window-change', (ok, _reject, info) => {
          sizes.push(`window ${info.cols}x${info.rows}`);
          ok?.();
        });
        session.on('shell', (ok) => {
          const stream = ok();
          stream.write('util1@mail:~$ ');
          stream.on('data', (d: Buffer) => stream.write(`echo:${d.toString()}`));
        });
      });
    });
    client.on('close', () => open.delete(client));
    client.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port, open, logins, sizes };
}

/** Opens the terminal's WebSocket; resolves with the HTTP status of a refusal or the open socket. */
function connect(url: string, headers: Record<string, string> = {}): Promise<{ status: number; ws?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => resolve({ status: 101, ws }));
    ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
    ws.once('error', reject);
  });
}

class Tty {
  output = '';
  closed: { code: number; reason: string } | undefined;
  constructor(readonly ws: WebSocket) {
    ws.on('message', (d: Buffer) => (this.output += d.toString()));
    ws.on('close', (code: number, reason: Buffer) => (this.closed = { code, reason: reason.toString() }));
  }
  async waitFor(test: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 100 && !test(); i++) await sleep(50);
    assert.ok(test(), `${what}: ${JSON.stringify({ output: this.output, closed: this.closed })}`);
  }
}

/** The terminal alone on a server of its own, with `config`, open to anyone (the access rule is tested above). */
async function bareTerminal(config: TerminalConfig, session?: SessionWatch) {
  const s = http.createServer();
  attachTerminal(s, config, () => true, session);
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return {
    url: `ws://127.0.0.1:${(s.address() as AddressInfo).port}/api/terminal`,
    close: () => {
      s.closeAllConnections();
      s.close();
    },
  };
}

describe('the terminal’s WebSocket, against a small sshd', () => {
  let dir: string;
  let sshd: Awaited<ReturnType<typeof fakeSshd>>;
  let server: http.Server;
  let terminal: TerminalConfig;
  let base: string;
  const key = studentKey(TOKEN, 1);

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-terminal-'));
    sshd = await fakeSshd('s3cret-util1');
    const config = makeConfig(dir, ['smtp-simple'], { adminKey: adminKey(TOKEN, 1), studentKey: key });
    config.card.passwords = { util1: 's3cret-util1', util11: 'other' };
    terminal = terminalConfig(config.card, {
      LABCTL_SSH_HOST: '127.0.0.1',
      LABCTL_SSH_PORT: String(sshd.port),
    })!;
    config.terminal = terminal;
    const sidecar = new Sidecar(config);
    await sidecar.store.load();
    server = createServer(sidecar);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/api/terminal`;
  });
  after(async () => {
    server.closeAllConnections();
    server.close();
    sshd.server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('logs in to the mail container as the first account, with its own password', () => {
    const t = terminalConfig(makeConfig(dir).card)!;
    assert.equal(t.host, 'labctl-td1-s01-mail');
    assert.equal(t.port, 22);
    assert.equal(t.user, 'util1');
    assert.equal(terminal.password, 's3cret-util1');
    assert.equal(t.maxSessions, 3);
  });

  it('refuses an upgrade without the key, with another student’s key or another sidecar’s admin key (401)', async () => {
    assert.equal((await connect(base)).status, 401);
    assert.equal((await connect(`${base}?k=${studentKey(TOKEN, 2)}`)).status, 401);
    assert.equal((await connect(base, { authorization: `Bearer ${adminKey(TOKEN, 2)}` })).status, 401);
    assert.equal((await connect(base.replace('/api/terminal', '/api/other') + `?k=${key}`)).status, 404);
    assert.deepEqual(sshd.logins, [], 'no ssh login was even tried');
  });

  it('opens no shell for labctl’s admin key of this very sidecar: only the student’s key does', async () => {
    // Whoever holds the admin key (it reads progress and resets it) gets no shell as the student with it.
    assert.equal((await connect(base, { authorization: `Bearer ${adminKey(TOKEN, 1)}` })).status, 401);
    assert.equal((await connect(`${base}?k=${adminKey(TOKEN, 1)}`)).status, 401);
    assert.deepEqual(sshd.logins, []);
  });

  it('refuses a page of another origin, even one whose browser sends the student’s cookie (403)', async () => {
    const port = (server.address() as AddressInfo).port;
    const cookie = `labctl_td1_s01=${key}`;
    // A page on another port of the same host is the same site: the browser sends the cookie with its WebSocket.
    for (const origin of [`http://127.0.0.1:${port + 1}`, 'http://evil.example', 'null']) {
      assert.equal((await connect(base, { origin, cookie })).status, 403, origin);
      assert.equal((await connect(`${base}?k=${key}`, { origin })).status, 403, origin);
    }
    assert.deepEqual(sshd.logins, [], 'no ssh login was even tried');
    // The page itself, with the cookie it was given.
    const own = await connect(base, { origin: `http://127.0.0.1:${port}`, cookie });
    assert.equal(own.status, 101);
    const tty = new Tty(own.ws!);
    await tty.waitFor(() => tty.output.includes('util1@mail:~$'), 'the prompt');
    tty.ws.close();
    for (let i = 0; i < 40 && sshd.open.size > 0; i++) await sleep(50);
  });

  it('bridges keystrokes to the shell, ends the ssh session when the socket closes, and allows 3 at once', async () => {
    const ttys: Tty[] = [];
    for (let i = 0; i < 3; i++) {
      const { status, ws } = await connect(`${base}?k=${key}`);
      assert.equal(status, 101);
      ttys.push(new Tty(ws!));
    }
    for (const tty of ttys) await tty.waitFor(() => tty.output.includes('util1@mail:~$'), 'the prompt');
    assert.equal(sshd.open.size, 3);
    // The page's size reaches the pty; nonsense sizes do not.
    ttys[0]!.ws.send(JSON.stringify({ resize: [132, 40] }));
    ttys[0]!.ws.send(JSON.stringify({ resize: [0, -1] }));
    ttys[0]!.ws.send('not json');
    for (let i = 0; i < 40 && !sshd.sizes.includes('window 132x40'); i++) await sleep(50);
    assert.ok(sshd.sizes.includes('pty 80x24 xterm-256color'), sshd.sizes.join());
    assert.deepEqual(
      sshd.sizes.filter((x) => x.startsWith('window')),
      ['window 132x40'],
    );
    ttys[0]!.ws.send(Buffer.from('telnet localhost 25\r'));
    await ttys[0]!.waitFor(() => ttys[0]!.output.includes('echo:telnet localhost 25'), 'the echo');

    const fourth = new Tty((await connect(`${base}?k=${key}`)).ws!);
    await fourth.waitFor(() => fourth.closed !== undefined, 'the fourth to be closed');
    assert.equal(fourth.closed!.code, 4429);
    assert.match(fourth.closed!.reason, /Déjà 3 terminaux ouverts/);
    assert.equal(sshd.open.size, 3, 'no ssh session for the fourth');

    for (const tty of ttys) tty.ws.close();
    for (let i = 0; i < 40 && sshd.open.size > 0; i++) await sleep(50);
    assert.equal(sshd.open.size, 0, 'every ssh session ended with its socket');
  });

  it('leaves no ssh session behind a socket closed while ssh was still logging in', async () => {
    for (let i = 0; i < 3; i++) (await connect(`${base}?k=${key}`)).ws!.close();
    await sleep(300);
    for (let i = 0; i < 40 && sshd.open.size > 0; i++) await sleep(50);
    assert.equal(sshd.open.size, 0);
    // And the three slots are free again.
    const tty = new Tty((await connect(`${base}?k=${key}`)).ws!);
    await tty.waitFor(() => tty.output.includes('util1@mail:~$'), 'the prompt');
    tty.ws.close();
  });

  it('closes a session left idle, with a message, and ends its ssh session', async () => {
    const bare = await bareTerminal({ ...terminal, idleMs: 800 });
    after(bare.close);
    const tty = new Tty((await connect(bare.url)).ws!);
    await tty.waitFor(() => tty.output.includes('util1@mail:~$'), 'the prompt');
    await tty.waitFor(() => tty.closed !== undefined, 'the idle close');
    assert.equal(tty.closed!.code, 4408);
    assert.match(tty.closed!.reason, /sans activité/);
    for (let i = 0; i < 40 && sshd.open.size > 0; i++) await sleep(50);
    assert.equal(sshd.open.size, 0);
  });

  it('warns in the last minutes of a graded session, closes at its end in French, and opens no more', async () => {
    // The sidecar's session, as the terminal sees it: a phase that the test moves as the sidecar's clock would.
    const watch = Object.assign(new EventEmitter(), {
      phase: 'warning' as SessionPhase,
      sessionPhase() {
        return this.phase;
      },
      sessionEndText: () => '16:00',
      sessionLeftMs: () => 4 * 60_000,
    });
    const bare = await bareTerminal(terminal, watch);
    after(bare.close);
    const tty = new Tty((await connect(bare.url)).ws!);
    await tty.waitFor(() => tty.output.includes('util1@mail:~$'), 'the prompt');
    assert.match(tty.output, /Attention : la séance se termine à 16:00 \(dans 4 min 00 s\)/);
    watch.phase = 'ended';
    watch.emit('phase', 'ended');
    await tty.waitFor(() => tty.closed !== undefined, 'the close at the end');
    assert.equal(tty.closed!.code, 4410);
    assert.match(tty.closed!.reason, /^La séance est terminée \(16:00\)/);
    assert.match(tty.output, /La séance est terminée \(16:00\) : votre serveur refuse les connexions/);
    for (let i = 0; i < 40 && sshd.open.size > 0; i++) await sleep(50);
    assert.equal(sshd.open.size, 0, 'its ssh session ended too');
    const late = new Tty((await connect(bare.url)).ws!);
    await late.waitFor(() => late.closed !== undefined, 'a terminal opened after the end');
    assert.equal(late.closed!.code, 4410);
    assert.equal(late.output, '', 'no shell after the end');
  });

  it('says so in the terminal when the ssh login fails', async () => {
    const bare = await bareTerminal({ ...terminal, password: 'wrong' });
    after(bare.close);
    const tty = new Tty((await connect(bare.url)).ws!);
    await tty.waitFor(() => tty.closed !== undefined, 'the close');
    assert.equal(tty.closed!.code, 4502);
    assert.match(tty.closed!.reason, /^Connexion SSH à votre serveur impossible/);
    assert.equal(tty.output, '');
  });

  it('serves xterm.js to the page without a key, and the page has the terminal', async () => {
    const port = (server.address() as AddressInfo).port;
    const js = await fetch(`http://127.0.0.1:${port}/terminal/xterm.js`);
    assert.equal(js.status, 200);
    assert.match(await js.text(), /Terminal/);
    assert.equal((await fetch(`http://127.0.0.1:${port}/terminal/nope.js`)).status, 404);
    const answer = await fetch(`http://127.0.0.1:${port}/?k=${key}`);
    const page = await answer.text();
    assert.match(page, /id="terminal-button"/);
    assert.match(page, /location\.host \+ '\/api\/terminal';/);
    assert.ok(!page.includes(key), 'the page holds no key: its cookie does');
    assert.match(
      String(answer.headers.get('set-cookie')),
      new RegExp(`^labctl_td1_s01=${key}; HttpOnly; SameSite=Strict; Path=/$`),
    );
  });
});
