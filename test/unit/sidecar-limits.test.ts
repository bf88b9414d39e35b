import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { SIDECAR_HTTP_LIMITS } from '../../src/core/limits.js';
import { createServer, limitConnections } from '../../src/sidecar/server.js';
import { Sidecar } from '../../src/sidecar/sidecar.js';
import { makeConfig } from '../helpers/sidecar-config.js';

/** An idle socket from `from` (a loopback address of its own), and whether and how the server ended it. */
interface Held {
  socket: net.Socket;
  ended: Promise<string>;
}

async function hold(port: number, from: string): Promise<Held> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress: from });
  let got = '';
  socket.on('data', (c: Buffer) => (got += c.toString()));
  const ended = new Promise<string>((resolve) => socket.on('close', () => resolve(got)));
  await once(socket, 'connect');
  return { socket, ended };
}

/** GET /health from `from`: the status, or 'refused' when the server closed the connection without answering. */
function health(port: number, from: string): Promise<number | 'refused'> {
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path: '/health', localAddress: from, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', () => resolve('refused'));
  });
}

/** Resolves once `count` of the sockets have been closed by the server. */
async function closedCount(held: Held[], count: number): Promise<void> {
  let closed = 0;
  await new Promise<void>((resolve) => {
    if (count === 0) resolve();
    for (const h of held) void h.ended.then(() => ++closed === count && resolve());
  });
}

describe("the sidecar's connection limits", { timeout: 10_000 }, () => {
  it('one address holding idle sockets gets its share; another address still gets the page', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-limits-'));
    const sidecar = new Sidecar(makeConfig(dir));
    await sidecar.store.load();
    const server = createServer(sidecar).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const held: Held[] = [];
    try {
      const { perSource } = SIDECAR_HTTP_LIMITS;
      for (let i = 0; i < perSource + 4; i++) held.push(await hold(port, '127.0.0.2'));
      // The sockets beyond the share are closed at once, with no answer; the share stays open.
      await closedCount(held, 4);
      assert.equal(held.filter((h) => h.socket.destroyed).length, 4);
      assert.equal(await health(port, '127.0.0.2'), 'refused');
      assert.equal(await health(port, '127.0.0.3'), 200);
    } finally {
      for (const h of held) h.socket.destroy();
      server.close();
      server.closeAllConnections();
      await sidecar.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('caps all connections, and ends those that send no request in time', async () => {
    const server = http.createServer({ connectionsCheckingInterval: 50 }, (_req, res) => res.end('ok'));
    limitConnections(server, {
      perSource: 3,
      total: 5,
      headersTimeoutMs: 300,
      requestTimeoutMs: 600,
      checkIntervalMs: 50,
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const held: Held[] = [];
    try {
      for (let i = 0; i < 3; i++) held.push(await hold(port, '127.0.0.2'));
      for (let i = 0; i < 2; i++) held.push(await hold(port, '127.0.0.3'));
      assert.equal(await health(port, '127.0.0.4'), 'refused', 'a sixth connection was let in');
      // Idle, they are ended by the headers timeout (Node answers 408), and the server takes requests again.
      const ends = await Promise.all(held.map((h) => h.ended));
      for (const end of ends) assert.match(end, /^HTTP\/1\.1 408 /);
      assert.equal(await health(port, '127.0.0.4'), 200);
      assert.equal(await health(port, '127.0.0.2'), 200);
    } finally {
      for (const h of held) h.socket.destroy();
      server.close();
      server.closeAllConnections();
    }
  });
});
