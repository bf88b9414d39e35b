import assert from 'node:assert/strict';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import Docker from 'dockerode';
import { labctl, labctlJson } from '../helpers/cli.js';
import { copyImages, startTestDockerd, testDockerdUnavailable, type TestDockerd } from '../helpers/dockerd.js';
import { freeBasePort, freePort } from '../helpers/ports.js';

/** This machine's first outside IPv4 address: the "remote" engine listens there, as one on another host would. */
function outsideAddress(): string | undefined {
  for (const [name, addresses] of Object.entries(os.networkInterfaces())) {
    if (/^(docker|br-|veth|lo|lbt)/.test(name)) continue;
    const v4 = addresses?.find((a) => a.family === 'IPv4' && !a.internal);
    if (v4) return v4.address;
  }
  return undefined;
}

const address = outsideAddress();
const skip = testDockerdUnavailable() ?? (address ? undefined : 'this machine has no outside IPv4 address');

describe('a class on an engine reached through DOCKER_HOST=tcp://…', { timeout: 600_000, skip }, () => {
  let engine: TestDockerd;
  const main = new Docker();
  const className = `re${process.pid}`;
  const labelled = async (docker: Docker) => {
    const filters = { label: [`dev.labctl.class=${className}`] };
    const [containers, volumes] = await Promise.all([
      docker.listContainers({ all: true, filters }),
      docker.listVolumes({ filters }),
    ]);
    return { containers: containers.length, volumes: (volumes.Volumes ?? []).length };
  };

  before(async () => {
    const built = await labctlJson<{ mail: string; sidecar: string }>(['build']);
    engine = await startTestDockerd({ networks: 4, tcp: `${address}:${await freePort()}` });
    await copyImages(main, engine.docker, [built.mail, built.sidecar]);
  });
  after(async () => {
    await labctl(['down', '--class', className, '--purge', '--yes'], undefined, engine?.env ?? {});
    await engine?.stop();
  });

  it('up, status, check, reset and down work there, and every object is on that engine, none on this one', async () => {
    const base = await freeBasePort(1, { engines: [main, engine.docker] });
    const args = ['--class', className, '--base-port', String(base), '--host', address!, '--bind', '0.0.0.0'];
    const up = await labctl(['up', '--students', '1', ...args, '--timeout', '120'], undefined, engine.env);
    assert.equal(up.code, 0, up.stderr);
    // labctl mounts no disk on another host: it says what is not bounded there.
    assert.match(
      up.stderr,
      /What each student writes is not bounded on this engine \(the Docker engine is on another host/,
    );
    assert.deepEqual(await labelled(main), { containers: 0, volumes: 0 });
    assert.deepEqual(await labelled(engine.docker), { containers: 2, volumes: 7 });

    // The engine says where the ports answer: its own host, not this machine's loopback.
    const status = await labctlJson<{ address: string; services: Record<string, boolean> }[]>(
      ['status', '--class', className],
      engine.env,
    );
    assert.equal(status.length, 1);
    assert.equal(status[0]!.address, address);
    assert.deepEqual(status[0]!.services, { smtp: true, pop3: true, imap: true, ssh: true, web: true });

    const board = await labctlJson<{ students: { student: number; error?: string; exercises: unknown[] }[] }>(
      ['check', '--class', className],
      engine.env,
    );
    assert.equal(board.students[0]?.error, undefined);
    assert.ok(board.students[0]!.exercises.length > 0);

    const reset = await labctl(
      ['reset', '--class', className, '--student', '1', '--progress', '--yes'],
      undefined,
      engine.env,
    );
    assert.equal(reset.code, 0, reset.stderr);
    assert.match(reset.stdout, /Progress cleared\./);

    // A dry run compares the plan with what runs on that engine.
    const dry = await labctl(['up', '--students', '1', ...args, '--dry-run'], undefined, engine.env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`Against what runs on tcp://${address!.replace(/\./g, '\\.')}:\\d+:`));
    assert.match(dry.stdout, /Class re\d+: nothing to change\.\nunchanged: student 1/);

    const down = await labctl(['down', '--class', className, '--purge', '--yes'], undefined, engine.env);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await labelled(engine.docker), { containers: 0, volumes: 0 });
  });
});
