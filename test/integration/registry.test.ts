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
  let built: { mail: string; sidecar: string; pushed: string[] };
  const tagOf = (ref: string) => ref.replace(/@sha256:.*$/, '');
  /** Only the registry's names of the images: labctl's own tags stay. */
  const untagPushed = () =>
    Promise.all(
      pushed.map((ref) =>
        docker
          .getImage(tagOf(ref))
          .remove()
          .catch(() => {}),
      ),
    );
  const serviceImages = async () =>
    (await docker.listServices({ filters: { label: [`dev.labctl.class=${CLASS}`] } }))
      .map((s) => (s.Spec!.TaskTemplate as { ContainerSpec: { Image: string } }).ContainerSpec.Image)
      .sort();

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

  it('build --push puts the mail and sidecar images in the registry, and names each by its digest', async () => {
    built = await labctlJson<{ mail: string; sidecar: string; pushed: string[] }>([
      'build',
      '--push',
      registry.address,
    ]);
    pushed = built.pushed;
    const [mailTag, sidecarTag] = [built.mail.split(':')[1]!, built.sidecar.split(':')[1]!];
    assert.deepEqual(pushed, [
      `${registry.address}/${built.mail}@${await registry.digest('labctl/mail', mailTag)}`,
      `${registry.address}/${built.sidecar}@${await registry.digest('labctl/sidecar', sidecarTag)}`,
    ]);
    assert.deepEqual(await registry.tags('labctl/mail'), [mailTag]);
    assert.deepEqual(await registry.tags('labctl/sidecar'), [sidecarTag]);
  });

  it('up --engine swarm --registry runs services that pull from it; a second up changes nothing', async () => {
    // The registry's names are gone from this node: the tasks can only start by pulling them.
    await untagPushed();
    await assert.rejects(docker.getImage(pushed[0]!).inspect(), /no such image/i);
    const base = await freeBasePort(1);
    const args = [...upArgs(CLASS, 1, base), '--engine', 'swarm', '--registry', registry.address];
    const up = await labctl(args);
    assert.equal(up.code, 0, up.stderr);
    // Services name the images by digest; an image this engine no longer knew as pushed was pushed again.
    assert.deepEqual(await serviceImages(), [...pushed].sort());
    assert.ok((await docker.getImage(pushed[0]!).inspect()).Id, 'the node has the mail image');
    const services = await docker.listServices({ filters: { label: [`dev.labctl.class=${CLASS}`] } });
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

  it('runs the image build --push pushed, after someone on the network moved its tag in the registry', async () => {
    // The registry takes pushes without login: a classmate points the sidecar's tag at another image (here the
    // mail image, as good as any image of theirs), after the instructor's build --push and before up.
    const sidecarTag = built.sidecar.split(':')[1]!;
    await registry.retag('labctl/mail', built.mail.split(':')[1]!, 'labctl/sidecar', sidecarTag);
    assert.equal(
      await registry.digest('labctl/sidecar', sidecarTag),
      await registry.digest('labctl/mail', built.mail.split(':')[1]!),
    );
    const base = await freeBasePort(1);
    const up = await labctl([...upArgs(CLASS, 1, base), '--engine', 'swarm', '--registry', registry.address]);
    assert.equal(up.code, 0, up.stderr);
    assert.deepEqual(await serviceImages(), [...pushed].sort());
    // The sidecar's container runs the image labctl built, and answers.
    const [task] = await docker.listContainers({
      filters: { label: [`dev.labctl.class=${CLASS}`, 'dev.labctl.role=sidecar', 'com.docker.swarm.task'] },
    });
    assert.equal(task?.ImageID, (await docker.getImage(built.sidecar).inspect()).Id);
    const health = await fetch(`http://127.0.0.1:${base + 180}/health`);
    assert.equal(((await health.json()) as { status: string }).status, 'ok');
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
