import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadLab } from '../../src/core/lab.js';
import { planClass } from '../../src/core/plan.js';
import { LabctlError } from '../../src/errors.js';
import { LABEL } from '../../src/core/labels.js';
import { chooseNode, matches, parseConstraint, pinnedNode, type NodeView } from '../../src/docker/swarm/constraints.js';
import { ENGINE_LABEL, pinnedReference, serviceSpec, tmpfsOptions } from '../../src/docker/swarm/service-spec.js';
import { mergeObjects, selectEngine } from '../../src/docker/select-engine.js';
import { SwarmEngine } from '../../src/docker/swarm/swarm-engine.js';

const node = (id: string, hostname: string, labels: Record<string, string> = {}, available = true): NodeView => ({
  id,
  hostname,
  role: 'worker',
  labels,
  available,
});

async function plannedStudent() {
  const plan = await planClass(await loadLab(), {
    className: 'swunit',
    students: 2,
    basePort: 10000,
    host: '192.0.2.7',
    bind: '0.0.0.0',
    mailImage: 'labctl/mail:abc',
    sidecarImage: 'labctl/sidecar:def',
    token: 'tok',
    passwords: 'lab',
  });
  const s = plan.students[1]!;
  const [mail, sidecar] = s.containers;
  return {
    s,
    mail: { ...mail!, network: s.network.name, bind: '0.0.0.0' },
    sidecar: { ...sidecar!, network: s.network.name, bind: '0.0.0.0' },
  };
}

describe('swarm service spec', () => {
  it('is the mail container as a service: same name, labels on the service and its containers, one node, host-mode ports', async () => {
    const { mail, s } = await plannedStudent();
    const spec = serviceSpec(mail, {
      nodeId: 'n2',
      constraints: ['node.labels.room==b12'],
      replicas: 0,
      volumeLabels: () => ({ a: 'b' }),
    });
    assert.equal(spec.Name, 'labctl-swunit-s02-mail');
    assert.equal(spec.Labels['dev.labctl.student'], '2');
    assert.equal(spec.Labels[ENGINE_LABEL], 'swarm');
    assert.deepEqual(spec.TaskTemplate.ContainerSpec.Labels, spec.Labels);
    assert.deepEqual(spec.TaskTemplate.Placement.Constraints, ['node.id==n2', 'node.labels.room==b12']);
    assert.deepEqual(spec.Mode, { Replicated: { Replicas: 0 } });
    assert.equal(spec.EndpointSpec.Mode, 'dnsrr');
    assert.deepEqual(
      spec.EndpointSpec.Ports.map((p) => [p.TargetPort, p.PublishedPort, p.PublishMode]),
      [
        [25, s.ports.smtp, 'host'],
        [110, s.ports.pop3, 'host'],
        [143, s.ports.imap, 'host'],
        [22, s.ports.ssh, 'host'],
      ],
    );
    assert.deepEqual(spec.TaskTemplate.Networks, [{ Target: 'labctl-swunit-s02' }]);
    // The rendered configuration travels in the spec, as on one host.
    assert.ok(spec.TaskTemplate.ContainerSpec.Env.some((e) => e.startsWith('LABCTL_SERVER_CONFIG=')));
  });

  it('keeps the limits and capabilities, and turns tmpfs options into tmpfs mounts', async () => {
    const { mail, sidecar } = await plannedStudent();
    const m = serviceSpec(mail, { nodeId: 'n', replicas: 1, volumeLabels: () => ({}) });
    assert.deepEqual(m.TaskTemplate.Resources, { Limits: { NanoCPUs: 1e9, MemoryBytes: 512 * 1024 ** 2, Pids: 512 } });
    assert.deepEqual(m.TaskTemplate.ContainerSpec.CapabilityAdd, ['NET_ADMIN']);
    assert.deepEqual(m.TaskTemplate.ContainerSpec.CapabilityDrop, ['NET_RAW', 'MKNOD']);
    assert.deepEqual(m.TaskTemplate.LogDriver, { Name: 'json-file', Options: { 'max-size': '1m', 'max-file': '3' } });
    const tmp = m.TaskTemplate.ContainerSpec.Mounts.find((x) => x.Target === '/tmp');
    assert.deepEqual(tmp, { Type: 'tmpfs', Target: '/tmp', TmpfsOptions: { SizeBytes: 64 * 1024 ** 2, Mode: 0o1777 } });
    const sc = serviceSpec(sidecar, { nodeId: 'n', replicas: 1, volumeLabels: () => ({}) });
    assert.equal(sc.TaskTemplate.ContainerSpec.User, '0:0');
    assert.equal(sc.TaskTemplate.ContainerSpec.ReadOnly, true);
    assert.deepEqual(sc.TaskTemplate.ContainerSpec.CapabilityDrop, ['ALL']);
    assert.deepEqual(sc.TaskTemplate.ContainerSpec.CapabilityAdd, ['CHOWN', 'SETUID', 'SETGID', 'SETPCAP']);
  });

  it('mounts the volumes read-only where the plan says, with the labels the node creates them with', async () => {
    const { sidecar } = await plannedStudent();
    const spec = serviceSpec(sidecar, { nodeId: 'n', replicas: 1, volumeLabels: (name) => ({ name }) });
    const volumes = spec.TaskTemplate.ContainerSpec.Mounts.filter((m) => m.Type === 'volume');
    assert.deepEqual(
      volumes.map((v) => [v.Source, v.Target, v.ReadOnly, v.Type === 'volume' && v.VolumeOptions.Labels.name]),
      [
        ['labctl-swunit-s02-evidence', '/evidence', true, 'labctl-swunit-s02-evidence'],
        ['labctl-swunit-s02-progress', '/state', false, 'labctl-swunit-s02-progress'],
      ],
    );
  });

  it('refuses tmpfs options Swarm cannot say', () => {
    assert.deepEqual(tmpfsOptions('size=16m'), { SizeBytes: 16 * 1024 ** 2 });
    assert.deepEqual(tmpfsOptions('size=2g,mode=700'), { SizeBytes: 2 * 1024 ** 3, Mode: 0o700 });
    assert.throws(() => tmpfsOptions('size=big'), /not a size/);
    assert.throws(() => tmpfsOptions('mode=999'), /not an octal mode/);
    assert.throws(() => tmpfsOptions('noexec'), /no Swarm equivalent/);
  });
});

const MAIL_DIGEST = `sha256:${'a'.repeat(64)}`;
const OTHER_DIGEST = `sha256:${'b'.repeat(64)}`;

describe('swarm images from a registry', () => {
  it('names an image pushed to the registry by the digest the push recorded', () => {
    const recorded = [`10.0.0.5:5000/labctl/sidecar@${OTHER_DIGEST}`, `10.0.0.5:5000/labctl/mail@${MAIL_DIGEST}`];
    assert.equal(
      pinnedReference('labctl/mail:abc', '10.0.0.5:5000/', recorded),
      `10.0.0.5:5000/labctl/mail:abc@${MAIL_DIGEST}`,
    );
    assert.equal(pinnedReference('labctl/mail:abc', 'registry.example', recorded), undefined, 'another registry');
    assert.equal(pinnedReference('labctl/mail:abc', '10.0.0.5:5000', []), undefined, 'never pushed');
    assert.equal(
      pinnedReference('labctl/mail:abc', '10.0.0.5:5000', ['10.0.0.5:5000/labctl/mail@sha256:short']),
      undefined,
    );
  });

  it('refuses a service that would pull an image from a registry by tag alone', async () => {
    const { mail } = await plannedStudent();
    const options = { nodeId: 'n', replicas: 1, volumeLabels: () => ({}) };
    assert.throws(
      () => serviceSpec({ ...mail, image: '10.0.0.5:5000/labctl/mail:abc' }, options),
      /image 10\.0\.0\.5:5000\/labctl\/mail:abc comes from a registry by tag alone/,
    );
    const pinned = `10.0.0.5:5000/labctl/mail:abc@${MAIL_DIGEST}`;
    assert.equal(serviceSpec({ ...mail, image: pinned }, options).TaskTemplate.ContainerSpec.Image, pinned);
    // The node's own image (images load), by its local tag.
    assert.equal(serviceSpec(mail, options).TaskTemplate.ContainerSpec.Image, 'labctl/mail:abc');
  });

  it('creates each service on the digest build --push got back, not on the tag a classmate could move', async () => {
    const created: { Name: string; TaskTemplate: { ContainerSpec: { Image: string } } }[] = [];
    const docker = {
      listServices: () => Promise.resolve([]),
      listNodes: () =>
        Promise.resolve([
          {
            ID: 'n1',
            Spec: { Role: 'manager', Availability: 'active' },
            Description: { Hostname: 'node1' },
            Status: { State: 'ready', Addr: '10.0.0.1' },
          },
        ]),
      // What the engine recorded when `labctl build --push 10.0.0.5:5000` pushed each image.
      getImage: (ref: string) => ({
        inspect: () =>
          Promise.resolve({
            RepoDigests: [`10.0.0.5:5000/${ref.split(':')[0]}@${ref.includes('mail') ? MAIL_DIGEST : OTHER_DIGEST}`],
          }),
      }),
      createService: (body: (typeof created)[number]) => {
        created.push(body);
        return Promise.resolve({});
      },
    };
    const engine = new SwarmEngine(LABEL, docker as never, { registry: '10.0.0.5:5000' });
    const { mail, sidecar } = await plannedStudent();
    await engine.createWorkload(mail);
    await engine.createWorkload(sidecar);
    assert.deepEqual(
      created.map((c) => [c.Name, c.TaskTemplate.ContainerSpec.Image]),
      [
        ['labctl-swunit-s02-mail', `10.0.0.5:5000/labctl/mail:abc@${MAIL_DIGEST}`],
        ['labctl-swunit-s02-sidecar', `10.0.0.5:5000/labctl/sidecar:def@${OTHER_DIGEST}`],
      ],
    );
  });
});

describe('swarm placement', () => {
  it('parses the constraints an instructor gives, and refuses others with the form to use', () => {
    assert.deepEqual(parseConstraint('node.labels.room==b12'), { key: 'node.labels.room', op: '==', value: 'b12' });
    assert.deepEqual(parseConstraint(' node.hostname != pc3 '), { key: 'node.hostname', op: '!=', value: 'pc3' });
    for (const bad of ['room==b12', 'node.labels.room=b12', 'node.labels.room==', 'engine.labels.x==1']) {
      assert.throws(
        () => parseConstraint(bad),
        (e: unknown) => e instanceof LabctlError && e.exitCode === 2 && /node\.labels\.room==b12/.test(e.hint ?? ''),
        bad,
      );
    }
  });

  it('matches node labels, hostnames and ids', () => {
    const n = node('id1', 'pc1', { room: 'B12' });
    assert.equal(matches(n, parseConstraint('node.labels.room==b12')), true);
    assert.equal(matches(n, parseConstraint('node.labels.room!=b12')), false);
    assert.equal(matches(n, parseConstraint('node.labels.floor==2')), false);
    assert.equal(matches(n, parseConstraint('node.labels.floor!=2')), true);
    assert.equal(matches(n, parseConstraint('node.hostname==pc1')), true);
    assert.equal(matches(n, parseConstraint('node.id==id2')), false);
  });

  it('spreads students: the eligible node with the fewest students, ties to the lowest hostname', () => {
    const nodes = [node('a', 'pc2'), node('b', 'pc1'), node('c', 'pc3')];
    const load = new Map<string, number>();
    const order: string[] = [];
    for (let i = 0; i < 6; i++) {
      const chosen = chooseNode(nodes, [], load);
      order.push(chosen.hostname);
      load.set(chosen.id, (load.get(chosen.id) ?? 0) + 1);
    }
    assert.deepEqual(order, ['pc1', 'pc2', 'pc3', 'pc1', 'pc2', 'pc3']);
  });

  it('places only on available nodes that meet every constraint', () => {
    const nodes = [
      node('a', 'pc1', { room: 'b12' }),
      node('b', 'pc2', { room: 'b13' }),
      node('c', 'pc3', { room: 'b12' }, false),
      node('d', 'pc4', { room: 'b12' }),
    ];
    const load = new Map([['a', 3]]);
    assert.equal(chooseNode(nodes, [parseConstraint('node.labels.room==b12')], load).hostname, 'pc4');
    assert.throws(
      () => chooseNode(nodes, [parseConstraint('node.labels.room==b14')], load),
      (e: unknown) =>
        e instanceof LabctlError &&
        /No Swarm node can take a student under node\.labels\.room==b14 \(3 of 4/.test(e.message),
    );
  });

  it('reads the node a service is pinned to from its constraints', () => {
    assert.equal(pinnedNode(['node.labels.room==b12', 'node.id==xyz']), 'xyz');
    assert.equal(pinnedNode(['node.labels.room==b12']), undefined);
    assert.equal(pinnedNode(undefined), undefined);
  });
});

describe('choosing the engine', () => {
  it('refuses Swarm-only options with the local engine, before asking any engine', () => {
    assert.throws(
      () => selectEngine({ labels: LABEL, engine: 'local', constraints: ['node.labels.room==b12'] }),
      (e: unknown) =>
        e instanceof LabctlError && e.exitCode === 2 && /--constraint .* needs --engine swarm/.test(e.message),
    );
    assert.throws(
      () => selectEngine({ labels: LABEL, engine: 'local', registry: 'reg.example:5000' }),
      (e: unknown) => e instanceof LabctlError && /--registry .* needs --engine swarm/.test(e.message),
    );
  });

  it('lists every class of both engines once: Swarm task containers and overlay networks are not counted twice', () => {
    const labels = (cls: string, role: string, extra: Record<string, string> = {}) => ({
      'dev.labctl.class': cls,
      'dev.labctl.student': '1',
      'dev.labctl.role': role,
      ...extra,
    });
    const info = (name: string, l: Record<string, string>) => ({
      id: name,
      name,
      labels: l,
      image: 'i',
      state: 'running',
      status: '',
      ports: [],
    });
    const merged = mergeObjects(
      {
        containers: [info('labctl-a-s01-mail', labels('a', 'mail'))],
        networks: [
          { name: 'labctl-a-s01', labels: labels('a', 'network') },
          { name: 'labctl-b-s01', labels: labels('b', 'network') },
        ],
        volumes: [{ name: 'labctl-a-s01-spool', labels: labels('a', 'volume') }],
        disks: [],
      },
      {
        containers: [
          info('labctl-a-s01-mail.1.xyz', labels('a', 'mail', { 'com.docker.swarm.task.id': 'xyz' })),
          info('labctl-b-s01-mail', labels('b', 'mail')),
        ],
        networks: [
          { name: 'labctl-a-s01', labels: labels('a', 'network') },
          { name: 'labctl-b-s01', labels: labels('b', 'network') },
        ],
        volumes: [
          { name: 'labctl-a-s01-spool', labels: labels('a', 'volume') },
          { name: 'labctl-b-s01-spool', labels: labels('b', 'volume') },
        ],
        disks: [],
      },
    );
    assert.deepEqual(
      merged.containers.map((c) => c.name),
      ['labctl-a-s01-mail', 'labctl-b-s01-mail'],
    );
    assert.deepEqual(
      merged.networks.map((n) => n.name),
      ['labctl-a-s01', 'labctl-b-s01'],
    );
    assert.deepEqual(
      merged.volumes.map((v) => v.name),
      ['labctl-a-s01-spool', 'labctl-b-s01-spool'],
    );
  });
});
