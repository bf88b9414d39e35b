/** `labctl build --push REGISTRY` and a Swarm class whose nodes pull the images from that registry. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { freeBasePort } from '../helpers/ports.js';
import { startTestRegistry, testRegistryUnavailable, type TestRegistry } from '../helpers/registry.js';
import { cleanSwarmClass, ensureSwarm, leaveSwarm } from '../helpers/swarm.js';

const CLASS = `swr${process.pid}`;

describe('a Swarm class from a registry', { timeout: 600_000, skip: testRegistryUnavailable() }, () => {
  let registry: TestRegistry;
  let swarmCreated = false;
  let pushed: string[] = [];
  /** Only the registry's names of the images: labctl's own tags stay. */
  const untagPushed = () =>
    Promise.all(
      pushed.map((ref) =>
        docker
          .getImage(ref)
          .remove()
          .catch(() => {}),
      ),
    );

  before(async () => {
    swarmCreated = await ensureSwarm();
    registry = await startTestRegistry();
    await cleanSwarmClass(CLASS);
  });
  after(async () => {
    await cleanSwarmClass(CLASS);
    await untagPushed();
    await registry?.stop();
    await leaveSwarm(swarmCreated);
  });

  it('build --push puts the mail and sidecar images in the registry', async () => {
    const built = await labctlJson<{ mail: string; sidecar: string; pushed: string[] }>([
      'build',
      '--push',
      registry.address,
    ]);
    pushed = built.pushed;
    assert.deepEqual(pushed, [`${registry.address}/${built.mail}`, `${registry.address}/${built.sidecar}`]);
    assert.deepEqual(await registry.tags('labctl/mail'), [built.mail.split(':')[1]]);
    assert.deepEqual(await registry.tags('labctl/sidecar'), [built.sidecar.split(':')[1]]);
  });

  it('up --engine swarm --registry runs services that pull from it; a second up changes nothing', async () => {
    // The registry's names are gone from this node: the tasks can only start by pulling them.
    await untagPushed();
    await assert.rejects(docker.getImage(pushed[0]!).inspect(), /no such image/i);
    const base = await freeBasePort(1);
    const args = [...upArgs(CLASS, 1, base), '--engine', 'swarm', '--registry', registry.address];
    const up = await labctl(args);
    assert.equal(up.code, 0, up.stderr);
    const services = await docker.listServices({ filters: { label: [`dev.labctl.class=${CLASS}`] } });
    assert.deepEqual(
      services.map((s) => (s.Spec!.TaskTemplate as { ContainerSpec: { Image: string } }).ContainerSpec.Image).sort(),
      [...pushed].sort(),
    );
    assert.ok((await docker.getImage(pushed[0]!).inspect()).Id, 'the node pulled the mail image');
    const versions = services.map((s) => s.Version!.Index);
    const again = await labctl(args);
    assert.equal(again.code, 0, again.stderr);
    const after = await docker.listServices({ filters: { label: [`dev.labctl.class=${CLASS}`] } });
    assert.deepEqual(
      after.map((s) => s.Version!.Index),
      versions,
    );
    const down = await labctl(['down', '--class', CLASS, '--purge', '--yes']);
    assert.equal(down.code, 0, down.stderr);
  });

  it('refuses a push where no registry answers, and --registry without Swarm', async () => {
    const push = await labctl(['build', '--push', '127.0.0.1:9']);
    assert.equal(push.code, 4, push.stderr);
    assert.match(push.stderr, /Failed to push 127\.0\.0\.1:9\/labctl\/mail:\w+/);
    assert.match(push.stderr, /Check that a registry answers at 127\.0\.0\.1:9/);
    const left = await docker.listImages({ filters: { reference: ['127.0.0.1:9/*/*'] } });
    assert.equal(left.length, 0, 'a failed push leaves no tag');
    const local = await labctl([...upArgs(CLASS, 1, 10000), '--engine', 'local', '--registry', registry.address]);
    assert.equal(local.code, 2);
    assert.match(local.stderr, /--registry is where Swarm nodes pull the images: it needs --engine swarm/);
  });
});
