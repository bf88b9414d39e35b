import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { board } from '../../src/commands/board.js';
import { saveRoster, type Person } from '../../src/core/roster.js';
import { adminKey, boardKey, studentKey, studentPassword } from '../../src/core/token.js';
import type { Engine } from '../../src/docker/engine.js';
import { configFromEnv } from '../../src/sidecar/config.js';
import { createServer } from '../../src/sidecar/server.js';
import { Sidecar } from '../../src/sidecar/sidecar.js';
import { Reporter } from '../../src/ui/reporter.js';
import { fakeClass } from '../helpers/fake-class.js';
import { FakeEngine } from '../helpers/fake-engine.js';
import { makeConfig } from '../helpers/sidecar-config.js';

const TOKEN = 'the-class-token-0123456789';

interface Answer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

function request(
  port: number,
  pathname: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: pathname, method: options.method ?? 'GET', headers: options.headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        // The live stream never ends: its first event is enough.
        res.on('data', (c: string) => {
          body += c;
          if (res.headers['content-type'] === 'text/event-stream') {
            req.destroy();
            resolve({ status: res.statusCode ?? 0, body, headers: res.headers });
          }
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe('secrets: one per purpose', () => {
  it('derives keys that differ per student and per purpose, and none is the token', () => {
    const keys = [
      adminKey(TOKEN, 1),
      adminKey(TOKEN, 2),
      studentKey(TOKEN, 1),
      studentKey(TOKEN, 2),
      boardKey(TOKEN),
      studentPassword(TOKEN, 1, 'util1'),
    ];
    assert.equal(new Set(keys).size, keys.length);
    for (const k of keys) assert.ok(!k.includes(TOKEN) && !TOKEN.includes(k));
    assert.equal(adminKey(TOKEN, 1), adminKey(TOKEN, 1), 'stable across runs');
    assert.notEqual(adminKey(TOKEN, 1), adminKey('another-class', 1));
    assert.notEqual(boardKey(TOKEN), boardKey('another-class'));
    assert.ok(adminKey(TOKEN, 1).length >= 32);
    assert.ok(boardKey(TOKEN).length >= 20);
  });

  it('gives a sidecar its admin and student keys, and wants no class token', async () => {
    // The environment the plan gives student 1's sidecar.
    const plan = await fakeClass(new FakeEngine(), { students: 1, token: TOKEN });
    const env = Object.fromEntries(
      plan.students[0]!.containers[1]!.env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
    );
    const config = configFromEnv(env);
    assert.equal(config.adminKey, adminKey(TOKEN, 1));
    assert.equal(config.studentKey, studentKey(TOKEN, 1));
    assert.equal(config.terminal?.host, 'labctl-fk-s01-mail', 'the mail workload the plan named');
    assert.doesNotMatch(JSON.stringify(config), new RegExp(TOKEN));
    assert.throws(() => configFromEnv({ ...env, LABCTL_ADMIN_KEY: undefined }), /LABCTL_ADMIN_KEY/);
    // A card it would misread stops it at once, naming the field.
    const card = JSON.parse(env.LABCTL_CARD!) as Record<string, unknown>;
    assert.throws(
      () => configFromEnv({ ...env, LABCTL_CARD: JSON.stringify({ ...card, pair: 'util1' }) }),
      /LABCTL_CARD: .*pair/,
    );
    assert.throws(() => configFromEnv({ ...env, LABCTL_CARD: '{' }), /LABCTL_CARD is not JSON/);
  });
});

describe('sidecar server: who may read and reset', () => {
  let dir: string;
  let server: http.Server;
  let port: number;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-secrets-'));
    const config = makeConfig(dir, ['smtp-simple'], {
      adminKey: adminKey(TOKEN, 1),
      studentKey: studentKey(TOKEN, 1),
    });
    const sidecar = new Sidecar(config);
    await sidecar.store.load();
    server = createServer(sidecar);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  const reset = (headers: Record<string, string>, query = '') =>
    request(port, `/api/reset-progress${query}`, { method: 'POST', headers });

  it('refuses the class token, for reading and for resetting', async () => {
    assert.equal((await request(port, '/api/progress', { headers: bearer(TOKEN) })).status, 403);
    assert.equal((await reset(bearer(TOKEN))).status, 401);
  });

  it("refuses student 2's admin key and the board key", async () => {
    assert.equal((await request(port, '/api/progress', { headers: bearer(adminKey(TOKEN, 2)) })).status, 403);
    assert.equal((await reset(bearer(adminKey(TOKEN, 2)))).status, 401);
    assert.equal((await reset(bearer(boardKey(TOKEN)))).status, 401);
    assert.equal((await request(port, `/api/progress?k=${boardKey(TOKEN)}`)).status, 403);
  });

  it('lets the student read their page but not reset it', async () => {
    const key = studentKey(TOKEN, 1);
    assert.equal((await request(port, `/api/progress?k=${key}`)).status, 200);
    assert.equal((await reset({}, `?k=${key}`)).status, 401);
    assert.equal((await reset({ 'x-labctl-key': key })).status, 401);
    assert.equal((await reset(bearer(key))).status, 401);
  });

  it('moves the key of the page address into a cookie of its own, and keeps the page out of frames', async () => {
    const key = studentKey(TOKEN, 1);
    const page = await request(port, `/?k=${key}`);
    assert.equal(page.status, 200);
    assert.equal(page.headers['set-cookie']?.[0], `labctl_td1_s01=${key}; HttpOnly; SameSite=Strict; Path=/`);
    assert.ok(!page.body.includes(key), 'the page holds no key');
    assert.match(page.body, /history\.replaceState\(null, '', location\.pathname\)/);
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /frame-ancestors 'none'/);
    const nonce = /script-src 'self' 'nonce-([^']+)'/.exec(csp)?.[1];
    assert.ok(nonce, csp);
    assert.equal(page.body.match(/<script/g)?.length, page.body.split(`<script nonce="${nonce}">`).length - 1);
    assert.equal(page.headers['referrer-policy'], 'no-referrer');
    // The cookie alone opens the page, its progress and its stream; another student's cookie name does not.
    const cookie = `labctl_td1_s01=${key}`;
    assert.equal((await request(port, '/', { headers: { cookie } })).status, 200);
    assert.equal((await request(port, '/api/progress', { headers: { cookie } })).status, 200);
    assert.match((await request(port, '/api/stream', { headers: { cookie } })).body, /^data: /);
    assert.equal((await request(port, '/', { headers: { cookie: `labctl_td1_s02=${key}` } })).status, 403);
  });

  it('accepts its own admin key for progress, the stream and a reset', async () => {
    const mine = bearer(adminKey(TOKEN, 1));
    const progress = await request(port, '/api/progress', { headers: mine });
    assert.equal(progress.status, 200);
    assert.equal((JSON.parse(progress.body) as { student: number }).student, 1);
    assert.match((await request(port, '/api/stream', { headers: mine })).body, /^data: /);
    assert.equal((await reset(mine)).status, 200);
  });
});

/**
 * The fake engine holding class sec with one student, as `up` makes it. Without `sidecarPort` their sidecar is
 * stopped, and the board serves without asking any sidecar; with it, the sidecar answers there (on loopback).
 * `people` is the class's roster.
 */
async function fakeEngine(options: { sidecarPort?: number; people?: Person[] } = {}): Promise<Engine> {
  const engine = new FakeEngine();
  // Student 1's page is at base + 180: the sidecar in this test listens there.
  const basePort = (options.sidecarPort ?? 10180) - 180;
  await fakeClass(engine, { className: 'sec', students: 1, basePort, token: TOKEN });
  if (options.sidecarPort === undefined) engine.containers.get('labctl-sec-s01-sidecar')!.state = 'exited';
  if (options.people) await saveRoster(engine, 'sec', options.people, 'l3.csv');
  return engine;
}

/** A reporter that keeps the command's result instead of printing it. */
class Captured extends Reporter {
  printed = '';
  override result(text: string): void {
    this.printed += `${text}\n`;
  }
}

/** Starts the board and returns it with the address it printed. */
async function startBoard(
  listen: string,
  engine?: Engine,
): Promise<{ server: http.Server; port: number; printed: string }> {
  const reporter = new Captured({ quiet: true });
  const server = await board(
    { className: 'sec', port: 0, listen, interval: 60_000 },
    { engine: engine ?? (await fakeEngine()), reporter, signal: new AbortController().signal },
  );
  return { server, port: (server.address() as AddressInfo).port, printed: reporter.printed };
}

async function stop(server: http.Server) {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

describe('board: the projector sees, and nothing else', () => {
  it('on loopback, answers only requests addressed to loopback (DNS rebinding)', async () => {
    const { server, port, printed } = await startBoard('127.0.0.1');
    try {
      assert.match(printed, new RegExp(`http://127\\.0\\.0\\.1:${port}/\\n`));
      for (const host of ['evil.example', `evil.example:${port}`, `127.0.0.1.nip.io:${port}`, `127.0.0.1:1`]) {
        const answer = await request(port, '/api/board', { headers: { host } });
        assert.equal(answer.status, 421, host);
        assert.doesNotMatch(answer.body, /sec/);
      }
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`]) {
        assert.equal((await request(port, '/api/board', { headers: { host } })).status, 200, host);
      }
      const page = await request(port, '/', { headers: { host: `127.0.0.1:${port}` } });
      assert.equal(page.status, 200);
      assert.match(page.body, /Class sec/);
    } finally {
      await stop(server);
    }
  });

  it('off loopback, needs the board key, prints it, and never the class token', async () => {
    const { server, port, printed } = await startBoard('0.0.0.0');
    try {
      const key = boardKey(TOKEN);
      assert.ok(printed.includes(`http://THIS-HOST:${port}/?key=${key}`), printed);
      assert.ok(!printed.includes(TOKEN), printed);
      assert.equal((await request(port, '/')).status, 401);
      assert.equal((await request(port, '/api/board')).status, 401);
      assert.equal((await request(port, '/?key=wrong')).status, 401);
      assert.equal((await request(port, `/?key=${TOKEN}`)).status, 401, 'the class token is not the board key');
      assert.equal((await request(port, `/?token=${TOKEN}`)).status, 401);
      assert.equal((await request(port, `/?key=${adminKey(TOKEN, 1)}`)).status, 401);

      // The printed address sets the cookie and sends the browser on to an address without the key.
      const first = await request(port, `/?key=${key}`);
      assert.equal(first.status, 303);
      assert.equal(first.headers.location, '/');
      const setCookie = String(first.headers['set-cookie']?.[0] ?? '');
      assert.match(setCookie, /^labctl_board=[^;]+; HttpOnly; SameSite=Lax; Path=\/$/);
      const cookie = setCookie.split(';')[0]!;
      const page = await request(port, '/', { headers: { cookie } });
      assert.equal(page.status, 200);
      assert.ok(!page.body.includes(TOKEN));
      assert.ok(!page.body.includes(key), 'the page holds no key');
      assert.match(page.body, /new EventSource\("\/api\/stream"\)/);
      assert.match(String(page.headers['content-security-policy']), /frame-ancestors 'none'/);
      assert.equal(page.headers['referrer-policy'], 'no-referrer');
      assert.equal((await request(port, '/api/board', { headers: { cookie } })).status, 200);
      assert.equal((await request(port, '/api/stream', { headers: { cookie } })).status, 200);
      assert.equal((await request(port, `/api/stream?key=${key}`)).status, 303);
      assert.equal((await request(port, '/api/board', { headers: { cookie: 'labctl_board=nope' } })).status, 401);
    } finally {
      await stop(server);
    }
  });

  it('sends the projector the names it shows, and no e-mail, student number, group or hint', async () => {
    // Student 1 failed a POP3 login: their sidecar has a hint for them, and the roster knows who they are.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-board-leak-'));
    const config = makeConfig(dir, ['smtp-simple', 'pop-login'], {
      adminKey: adminKey(TOKEN, 1),
      studentKey: studentKey(TOKEN, 1),
    });
    await mkdir(path.dirname(config.verifyLog), { recursive: true });
    await writeFile(
      config.verifyLog,
      '2026-11-26T09:00:00.000001+00:00 uid=0 pid=300 mail pop3d: LOGIN FAILED, user=util1, ip=[::ffff:10.213.1.1]\n',
    );
    const sidecar = new Sidecar(config);
    await sidecar.store.load();
    await sidecar.poll();
    assert.match(sidecar.progress().exercises[1]!.hint ?? '', /a échoué/);
    const sidecarServer = createServer(sidecar);
    await new Promise<void>((r) => sidecarServer.listen(0, '127.0.0.1', r));
    const people: Person[] = [
      { seat: 1, name: 'Zoé Martin', email: 'zoe.martin@etud.example.fr', number: '22004817', group: 'TD3' },
    ];
    const engine = await fakeEngine({ sidecarPort: (sidecarServer.address() as AddressInfo).port, people });
    const { server, port } = await startBoard('0.0.0.0', engine);
    try {
      // Whoever holds the board key (it is on the projector) reads the page, its JSON and its stream.
      const cookie = String((await request(port, `/?key=${boardKey(TOKEN)}`)).headers['set-cookie']?.[0]).split(
        ';',
      )[0]!;
      const seen = [
        (await request(port, '/', { headers: { cookie } })).body,
        (await request(port, '/api/board', { headers: { cookie } })).body,
        (await request(port, '/api/stream', { headers: { cookie } })).body,
      ];
      for (const body of seen) {
        assert.match(body, /Zoé Martin/, 'the board shows who sits there');
        for (const secret of ['zoe.martin', '22004817', 'TD3', 'a échoué', 'hint', 'lastProgressAt']) {
          assert.ok(!body.includes(secret), `the board sent ${secret}: ${body.slice(0, 400)}`);
        }
      }
    } finally {
      await stop(server);
      await stop(sidecarServer);
      await sidecar.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
