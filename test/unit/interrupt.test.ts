import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import Docker from 'dockerode';
import { down } from '../../src/commands/down.js';
import { snapshot } from '../../src/commands/snapshot.js';
import { follow } from '../../src/docker/images/progress.js';
import { until } from '../../src/docker/retry.js';
import { ExitCode, LabctlError } from '../../src/errors.js';
import { Reporter } from '../../src/ui/reporter.js';
import { labctl, labctlCtrlC } from '../helpers/cli.js';
import { fails, fakeClass, testContext } from '../helpers/fake-class.js';
import { FakeEngine } from '../helpers/fake-engine.js';

const interrupted = () => new LabctlError(ExitCode.interrupted, 'Interrupted.');

/**
 * Ctrl-C and SIGTERM: a command that took the stop signal stops cleanly (what it holds goes back, a half-written file
 * goes, students under way are finished); the others end at once. What the instructor sees, and what is left.
 */
describe('Ctrl-C in the commands that hold something', () => {
  it('snapshot finishes the copy under way, begins no other, gives the lock back and says who was copied (exit 130)', async () => {
    const engine = new FakeEngine();
    engine.placesOnNodes = true;
    await fakeClass(engine, { className: 'ic', students: 3 });
    for (const c of engine.containers.values()) Object.assign(c, { nodeName: 'n2' });
    const t = testContext(engine);
    engine.onCall = (call) => {
      if (call.startsWith('snapshot labctl-ic-s01-')) t.interrupt();
    };
    await fails(
      snapshot({ className: 'ic', timeout: 5 }, t.ctx),
      ExitCode.interrupted,
      /^Interrupted: student\(s\) 1 were copied and started again; 2 were not \(an older snapshot, if any, is kept\)\.$/,
    );
    assert.deepEqual(engine.calls, ['snapshot labctl-ic-s01-mail labctl-ic-s01-sidecar']);
    assert.equal(engine.locks.size, 0, 'the class lock is given back');
    assert.equal(t.stdout(), '', 'no result is printed');
  });

  it('down finishes the student under way, leaves the others, and says what is left (exit 130); down again ends it', async () => {
    const engine = new FakeEngine();
    engine.parallelism = 1;
    await fakeClass(engine, { className: 'id', students: 3 });
    const t = testContext(engine);
    engine.onCall = (call) => {
      if (call === 'remove-container labctl-id-s01-mail') t.interrupt();
    };
    await fails(
      down({ className: 'id' }, t.ctx),
      ExitCode.interrupted,
      /^Interrupted: 4 containers, 2 networks of class id are left \(2 student\(s\)\); the students under way were finished\.$/,
    );
    assert.deepEqual([...engine.containers.keys()].sort(), [
      'labctl-id-s02-mail',
      'labctl-id-s02-sidecar',
      'labctl-id-s03-mail',
      'labctl-id-s03-sidecar',
    ]);
    engine.onCall = () => {};
    const again = testContext(engine);
    await down({ className: 'id' }, again.ctx);
    assert.match(again.stdout(), /^Removed 4 containers and 2 networks of class id\./);
    assert.equal(engine.containers.size, 0);
  });
});

describe('the pieces that stop on the signal', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-interrupt-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('a stream written to a file: Ctrl-C removes the partial file and rejects with the interruption', async () => {
    const file = path.join(dir, 'images.tar');
    const source = new PassThrough();
    const controller = new AbortController();
    const writing = new Reporter().writeStream(file, source, { signal: controller.signal });
    source.write(Buffer.alloc(64 * 1024));
    while ((await readdir(dir)).length === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort(interrupted());
    await assert.rejects(writing, (e: unknown) => e instanceof LabctlError && e.exitCode === ExitCode.interrupted);
    assert.deepEqual(await readdir(dir), [], 'neither the file nor its .partial');
    assert.ok(source.destroyed, 'the source is let go (the engine stops sending)');
  });

  it("a build's progress stream: Ctrl-C closes it (the engine cancels the build) and rejects at once", async () => {
    const stream = new PassThrough();
    const controller = new AbortController();
    const steps: string[] = [];
    const following = follow(new Docker(), stream, (l) => steps.push(l), controller.signal);
    stream.write(`${JSON.stringify({ stream: 'Step 1/9 : FROM labctl/base' })}\n`);
    while (steps.length === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort(interrupted());
    await assert.rejects(following, /Interrupted\./);
    assert.ok(stream.destroyed);
    assert.deepEqual(steps, ['Step 1/9 : FROM labctl/base']);
  });

  it('a wait on the engine (a job on a node, say) ends on the signal, not at its timeout', async () => {
    const controller = new AbortController();
    let asked = 0;
    setTimeout(() => controller.abort(interrupted()), 50);
    const started = Date.now();
    await assert.rejects(
      until(() => (asked++, Promise.resolve(false)), {
        timeoutMs: 60_000,
        intervalMs: 1_000,
        signal: controller.signal,
      }),
      /Interrupted\./,
    );
    assert.ok(Date.now() - started < 1_000, `${Date.now() - started} ms`);
    assert.equal(asked, 1);
  });
});

describe('the CLI, on a Docker engine that takes connections and never answers', () => {
  let dir: string;
  let server: net.Server;
  const held: net.Socket[] = [];
  let env: NodeJS.ProcessEnv;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-silent-'));
    const socket = path.join(dir, 'docker.sock');
    server = net.createServer((c) => held.push(c)); // holds each connection, says nothing
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    env = { DOCKER_HOST: `unix://${socket}`, LABCTL_CONFIG: path.join(dir, 'none.yaml') };
  });
  after(async () => {
    for (const c of held) c.destroy();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it('a command that holds nothing ends at once on Ctrl-C, with 130', async () => {
    const started = Date.now();
    const r = await labctlCtrlC(
      ['info', '--class', 'quiet'],
      () => Promise.resolve(Date.now() - started >= 1_500),
      env,
    );
    assert.equal(r.code, ExitCode.interrupted, r.stderr);
    assert.ok(r.ms < 4_000, `${r.ms} ms`);
  });

  it('doctor says the engine does not answer, within 10 s, instead of waiting forever (exit 4)', async () => {
    const started = Date.now();
    const r = { ...(await labctl(['doctor', '--json'], undefined, env)), ms: 0 };
    r.ms = Date.now() - started;
    assert.equal(r.code, ExitCode.engine, r.stderr);
    const rows = JSON.parse(r.stdout) as { check: string; ok: boolean; detail: string }[];
    const engineRow = rows.find((row) => row.check === 'docker engine');
    assert.equal(engineRow?.ok, false);
    assert.match(
      engineRow?.detail ?? '',
      /No Docker engine answers at unix:\/\/.*docker\.sock \(no answer within 10 s\)/,
    );
    assert.ok(r.ms < 20_000, `${r.ms} ms`);
  });
});
