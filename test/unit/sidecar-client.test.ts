import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SidecarClient, SidecarMismatchError } from '../../src/core/sidecar-client.js';
import { ProgressSchema, type Progress } from '../../src/core/wire.js';
import { probe } from '../../src/core/readiness.js';
import { createServer } from '../../src/sidecar/server.js';
import { Sidecar } from '../../src/sidecar/sidecar.js';
import { makeConfig } from '../helpers/sidecar-config.js';

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** A server that answers every request with `status` and `body`, as a sidecar of another version might. */
async function answering(status: number, body: string): Promise<{ port: number; close: () => void }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body);
  });
  const port = await listen(server);
  return { port, close: () => server.close() };
}

const sample: Progress = {
  class: 'td1',
  student: 1,
  lab: 'smtp-pop-imap',
  title: 'TD',
  done: 1,
  total: 2,
  lastProgressAt: '2026-11-26T09:52:41.000Z',
  exercises: [
    { id: 'smtp-simple', title: 'a', done: true, at: '2026-11-26T09:52:41.000Z', evidence: 'message X reçu' },
    { id: 'smtp-subject', title: 'b', done: false, at: null, evidence: null, hint: 'votre message n’a pas de sujet' },
  ],
};

describe('wire schema', () => {
  it('round-trips a progress answer through JSON, hint and all', () => {
    assert.deepEqual(ProgressSchema.parse(JSON.parse(JSON.stringify(sample))), sample);
  });

  it('accepts an answer without the optional fields (a sidecar from before hints)', () => {
    const { lastProgressAt: _, ...old } = sample;
    const exercises = old.exercises.map(({ hint: _h, ...e }) => e);
    assert.equal(ProgressSchema.safeParse({ ...old, exercises }).success, true);
  });

  it('refuses a wrong type, and says where', () => {
    const bad = { ...sample, exercises: [{ ...sample.exercises[0], done: 'yes' }] };
    const parsed = ProgressSchema.safeParse(bad);
    assert.equal(parsed.success, false);
    assert.deepEqual(parsed.error?.issues[0]?.path, ['exercises', 0, 'done']);
  });
});

describe('SidecarClient against a real sidecar server', () => {
  let dir: string;
  let server: http.Server;
  let port: number;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-client-'));
    const sidecar = new Sidecar(makeConfig(dir, ['smtp-simple', 'pop-login'], { adminKey: 'adm', studentKey: 'stu' }));
    await sidecar.store.load();
    await sidecar.poll();
    server = createServer(sidecar);
    port = await listen(server);
  });
  after(async () => {
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('reads health, progress and resets progress, each parsed with the wire schema', async () => {
    const client = new SidecarClient({ host: '127.0.0.1', port, key: 'adm' });
    assert.equal(await client.health(), 'HTTP 200');
    const progress = await client.progress();
    assert.deepEqual(
      progress.exercises.map((e) => [e.id, e.done]),
      [
        ['smtp-simple', false],
        ['pop-login', false],
      ],
    );
    assert.equal((await client.resetProgress()).done, 0);
    assert.equal(await probe('127.0.0.1', port, 'web'), 'HTTP 200');
  });

  it('refuses another key: HTTP 403 for progress, 401 for the reset, in the words users know', async () => {
    const client = new SidecarClient({ host: '127.0.0.1', port, key: 'stu' });
    await assert.rejects(client.progress(), /^Error: HTTP 403$/);
    await assert.rejects(client.resetProgress(), /^Error: the sidecar answered HTTP 401$/);
  });
});

describe('SidecarClient against a sidecar of another version', () => {
  it('rejects a progress answer in another form with a clear error naming the field', async () => {
    const old = await answering(200, JSON.stringify({ student: 1, results: { 'smtp-simple': true } }));
    try {
      const client = new SidecarClient({ host: '127.0.0.1', port: old.port, key: 'k' });
      const error = await client.progress().then(
        () => assert.fail('parsed'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof SidecarMismatchError);
      assert.equal(
        error.message,
        "the sidecar's answer to /api/progress is not in the form this labctl expects (class: expected string); " +
          'is its image from another version? `labctl up` recreates it',
      );
    } finally {
      old.close();
    }
  });

  it('rejects an answer that is not JSON, and a /health of another form', async () => {
    const html = await answering(200, '<html>proxy</html>');
    try {
      const client = new SidecarClient({ host: '127.0.0.1', port: html.port, key: 'k' });
      await assert.rejects(client.progress(), /answer to \/api\/progress is not in the form .* \(not JSON\)/);
      await assert.rejects(client.health(), /answer to \/health is not in the form .* \(not JSON\)/);
    } finally {
      html.close();
    }
    const odd = await answering(200, JSON.stringify({ status: 'fine' }));
    try {
      const client = new SidecarClient({ host: '127.0.0.1', port: odd.port });
      await assert.rejects(client.health(), /answer to \/health .*matches none of the expected forms/);
    } finally {
      odd.close();
    }
  });

  it('keeps the messages users know for a sidecar that is down or stalled', async () => {
    const stalled = await answering(503, JSON.stringify({ status: 'stalled', student: 1, reason: 'x' }));
    try {
      await assert.rejects(
        new SidecarClient({ host: '127.0.0.1', port: stalled.port }).health(),
        new RegExp(`^Error: web 127.0.0.1:${stalled.port}/health answered 503 \\(stalled: x\\)$`),
      );
    } finally {
      stalled.close();
    }
    const silent = http.createServer(() => undefined);
    const port = await listen(silent);
    try {
      const client = new SidecarClient({ host: '127.0.0.1', port, key: 'k' });
      await assert.rejects(client.progress(200), /^Error: no answer within 200 ms$/);
      await assert.rejects(
        client.health(200),
        new RegExp(`^Error: no web answer from 127.0.0.1:${port} within 200 ms$`),
      );
      await assert.rejects(client.resetProgress(200), /^Error: the sidecar did not answer$/);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });
});
