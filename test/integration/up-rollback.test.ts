import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import Docker from 'dockerode';
import { BIN, labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { copyImages, startTestDockerd, testDockerdUnavailable, type TestDockerd } from '../helpers/dockerd.js';
import { freeBasePort } from '../helpers/ports.js';

const skip = testDockerdUnavailable();
// The test engine's address pool: this many networks, one per student.
const NETWORKS = 4;

describe('a failed or interrupted up leaves nothing behind', { timeout: 600_000, skip }, () => {
  let engine: TestDockerd;
  const main = new Docker();

  /** Everything labelled with the class on the test engine. */
  async function left(className: string) {
    const filters = { label: [`dev.labctl.class=${className}`] };
    const [containers, networks, volumes] = await Promise.all([
      engine.docker.listContainers({ all: true, filters }),
      engine.docker.listNetworks({ filters }),
      engine.docker.listVolumes({ filters }),
    ]);
    return {
      containers: containers.map((c) => `${c.Names[0]} (${c.State})`),
      networks: networks.map((n) => n.Name),
      volumes: (volumes.Volumes ?? []).map((v) => v.Name),
    };
  }
  const nothing = { containers: [], networks: [], volumes: [] };

  /** Runs `up` as a child process and sends it SIGINT once `when` holds; resolves to its exit code and output. */
  async function interruptedUp(args: string[], when: () => Promise<boolean>, env: NodeJS.ProcessEnv = {}) {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, CI: '1', ...engine.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    let ended = false;
    void exited.then(() => (ended = true));
    while (!ended && !(await when())) await sleep(20);
    const outputWhenSent = stdout;
    child.kill('SIGINT');
    return { code: await exited, stdout, stderr, outputWhenSent };
  }

  before(async () => {
    // The images are built (or found) on the machine's engine, then copied: the test engine cannot build offline.
    const built = await labctlJson<{ mail: string; sidecar: string }>(['build']);
    engine = await startTestDockerd({ networks: NETWORKS });
    await copyImages(main, engine.docker, [built.mail, built.sidecar]);
  });
  after(async () => {
    await engine?.stop();
  });

  it('up beyond the address pool fails with the cause and the fix, exit 4, and removes every student it began', async () => {
    const className = `rb${process.pid}p`;
    // More students than networks: the concurrency limit (8) has them all in flight when the pool runs out.
    const students = NETWORKS + 2;
    const base = await freeBasePort(students, { engines: [main, engine.docker] });
    const started = Date.now();
    const up = await labctl(upArgs(className, students, base), undefined, engine.env);
    const took = Date.now() - started;
    assert.equal(up.code, 4, up.stderr);
    assert.match(up.stderr, /Docker has no free subnet left for network labctl-\S+-s0\d/);
    assert.match(up.stderr, /Start dockerd with a larger pool, e\.g\. --default-address-pool/);
    assert.deepEqual(await left(className), nothing, `left after a failed up (${took} ms)`);
  });

  it('Ctrl-C while the containers are being created removes what the run created, exit 130', async () => {
    const className = `rb${process.pid}c`;
    const students = 3;
    const base = await freeBasePort(students, { engines: [main, engine.docker] });
    const filters = { label: [`dev.labctl.class=${className}`] };
    const r = await interruptedUp(
      upArgs(className, students, base),
      // The first student container, not the class's lock (which up takes before anything else).
      async () =>
        (await engine.docker.listContainers({ all: true, filters })).some(
          (c) => c.Labels['dev.labctl.role'] !== 'lock',
        ),
      // One step at a time, so the first container comes well before the last.
      { LABCTL_CONCURRENCY: '1' },
    );
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /Interrupted: what this run changed was undone; class rb\d+c is as it was before/);
    assert.deepEqual(await left(className), nothing);
  });

  it('Ctrl-C while waiting for the services removes the class too; the same up then brings it all up', async () => {
    const className = `rb${process.pid}w`;
    const students = 3;
    const base = await freeBasePort(students, { engines: [main, engine.docker] });
    const filters = { label: [`dev.labctl.class=${className}`] };
    // Every container exists and runs (the last sidecar has appeared): up is waiting for the greetings.
    const allRunning = async () =>
      (await engine.docker.listContainers({ filters })).filter((c) => c.State === 'running').length === 2 * students;
    const r = await interruptedUp(upArgs(className, students, base), allRunning);
    assert.equal(r.outputWhenSent, '', 'SIGINT was sent before up printed its result');
    assert.equal(r.code, 130, r.stderr);
    assert.deepEqual(await left(className), nothing);

    const again = await labctl(upArgs(className, students, base), undefined, engine.env);
    assert.equal(again.code, 0, again.stderr);
    const status = await labctlJson<{ student: number; services: Record<string, boolean> }[]>(
      ['status', '--class', className],
      engine.env,
    );
    assert.equal(status.length, students);
    for (const s of status)
      assert.deepEqual(
        s.services,
        { smtp: true, pop3: true, imap: true, ssh: true, web: true },
        `student ${s.student}`,
      );
    const down = await labctl(['down', '--class', className, '--purge', '--yes'], undefined, engine.env);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await left(className), nothing);
  });
});
