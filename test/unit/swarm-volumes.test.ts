import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LABEL } from '../../src/core/labels.js';
import { SwarmEngine } from '../../src/docker/swarm/swarm-engine.js';
import { removalJobSpec, removalResults } from '../../src/docker/swarm/volumes.js';

/**
 * A swarm of three nodes as the manager's API shows it: node1 (the manager, whose engine answers), node2 (a worker)
 * and node3 (a worker that is down). Each holds the volumes of the student pinned to it; a job created on a node
 * removes the volumes it names there, as the job's script does through the node's socket.
 */
function threeNodes() {
  const held: Record<string, Set<string>> = { n1: new Set(), n2: new Set(), n3: new Set() };
  const state: Record<string, string> = { n1: 'ready', n2: 'ready', n3: 'down' };
  const services: object[] = [];
  const jobs = new Map<string, { node: string; output: string }>();
  const volumes = (s: number) => ['spool', 'home', 'log'].map((v) => `labctl-c-s0${s}-${v}`);
  for (const [s, node] of [
    [1, 'n1'],
    [2, 'n2'],
    [3, 'n3'],
  ] as const) {
    for (const v of volumes(s)) held[node]!.add(v);
    const labels = { 'dev.labctl.class': 'c', 'dev.labctl.student': String(s), 'dev.labctl.role': 'mail' };
    services.push({
      ID: `svc${s}`,
      Version: { Index: 1 },
      Spec: {
        Name: `labctl-c-s0${s}-mail`,
        Labels: labels,
        Mode: { Replicated: { Replicas: 1 } },
        TaskTemplate: {
          Placement: { Constraints: [`node.id==${node}`] },
          ContainerSpec: {
            Image: 'labctl/mail:abc',
            Mounts: volumes(s).map((v) => ({
              Type: 'volume',
              Source: v,
              Target: `/${v}`,
              VolumeOptions: { Labels: { ...labels, 'dev.labctl.role': 'volume' } },
            })),
          },
        },
      },
    });
  }
  const frame = (text: string) => {
    const header = Buffer.alloc(8);
    header[0] = 1;
    header.writeUInt32BE(Buffer.byteLength(text), 4);
    return Buffer.concat([header, Buffer.from(text)]);
  };
  const docker = {
    info: () => Promise.resolve({ Swarm: { NodeID: 'n1' } }),
    // Only the class's services carry labels here (no job is left to list).
    listServices: (options?: { filters: { label: string[] } }) =>
      Promise.resolve(options?.filters.label.some((l) => l.startsWith('dev.labctl.job')) ? [] : services),
    listTasks: ({ filters }: { filters: { service?: string[] } }) => {
      const job = filters.service && jobs.get(filters.service[0]!);
      if (!job) return Promise.resolve([]);
      return Promise.resolve([
        {
          ID: 't',
          ServiceID: 'job',
          NodeID: job.node,
          DesiredState: 'shutdown',
          Status: { State: 'complete', Timestamp: '1', ContainerStatus: { ContainerID: 'c', ExitCode: 0 } },
        },
      ]);
    },
    listNodes: () =>
      Promise.resolve(
        ['n1', 'n2', 'n3'].map((id, i) => ({
          ID: id,
          Spec: { Role: i === 0 ? 'manager' : 'worker', Availability: 'active' },
          Description: { Hostname: `node${i + 1}` },
          Status: { State: state[id], Addr: `10.0.0.${i + 1}` },
        })),
      ),
    listImages: () => Promise.resolve([{ Created: 1, RepoTags: ['labctl/mail:abc'], RepoDigests: [] }]),
    listNetworks: () => Promise.resolve([]),
    // The manager's engine lists only its own volumes.
    listVolumes: () => Promise.resolve({ Volumes: [...held.n1!].map((Name) => ({ Name, Labels: {} })) }),
    listContainers: () => Promise.resolve([]),
    getVolume: (name: string) => ({
      remove: () =>
        held.n1!.delete(name)
          ? Promise.resolve()
          : Promise.reject(Object.assign(new Error('no such volume'), { statusCode: 404 })),
    }),
    createService: (body: ReturnType<typeof removalJobSpec>) => {
      const node = /^node\.id==(\S+)$/.exec(body.TaskTemplate.Placement.Constraints[0]!)![1]!;
      const names = body.TaskTemplate.ContainerSpec.Command.slice(3);
      // A listing job: its one argument is the filters, URL-encoded; it prints the engine's answer.
      if (names[0]?.startsWith('%7B')) {
        const wanted = (JSON.parse(decodeURIComponent(names[0])) as { label: string[] }).label[0];
        assert.equal(wanted, 'dev.labctl.class=c');
        const listed = [...held[node]!].map((Name) => ({ Name, Labels: { 'dev.labctl.class': 'c' } }));
        jobs.set(body.Name, { node, output: JSON.stringify({ Volumes: listed, Warnings: null }) });
        return Promise.resolve({});
      }
      const output = names.map((v) => `${v} ${held[node]!.delete(v) ? 204 : 404} \n`).join('');
      jobs.set(body.Name, { node, output });
      return Promise.resolve({});
    },
    getService: (name: string) => ({
      logs: () => Promise.resolve(frame(jobs.get(name)?.output ?? '')),
      remove: () =>
        jobs.delete(name) ? Promise.resolve() : Promise.reject(Object.assign(new Error('gone'), { statusCode: 404 })),
    }),
  };
  return { docker, held, services };
}

describe('swarm volumes', () => {
  it("down --purge removes each student's volumes on the node that holds them, and names the node that is down", async () => {
    const { docker, held } = threeNodes();
    const engine = new SwarmEngine(LABEL, docker as never);
    const objects = await engine.list('c');
    assert.equal(objects.volumes.length, 9);
    // Student 3's node is down: their server is lost, whatever its task last said, and the node is named.
    assert.deepEqual(
      objects.containers.map((c) => [c.name, c.state, c.nodeName, c.nodeLost]),
      [
        ['labctl-c-s01-mail', 'created', 'node1', undefined],
        ['labctl-c-s02-mail', 'created', 'node2', undefined],
        ['labctl-c-s03-mail', 'lost', 'node3', 'down'],
      ],
    );
    const results = await Promise.allSettled(objects.volumes.map((v) => engine.removeVolume(v.name)));
    // The manager's own and node2's are gone; node3's stay, and each says so.
    assert.deepEqual([...held.n1!], []);
    assert.deepEqual([...held.n2!], []);
    assert.equal(held.n3!.size, 3);
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
    assert.deepEqual(refused, [
      'Volume labctl-c-s03-spool stays on its node: node node3 is down.',
      'Volume labctl-c-s03-home stays on its node: node node3 is down.',
      'Volume labctl-c-s03-log stays on its node: node node3 is down.',
    ]);
  });

  it('after a plain down, every ready node is asked for its volumes, and purge removes them there', async () => {
    const { docker, held, services } = threeNodes();
    services.length = 0; // down took the services, and with them the manager's view of the workers' volumes
    held.n1!.add('labctl-c-s02-spool'); // an old copy, of a student since made again on node2
    const engine = new SwarmEngine(LABEL, docker as never);
    assert.equal((await engine.list('c')).volumes.length, 4, "list() sees the manager's own only");
    const { volumes, missed } = await engine.volumesEverywhere('c');
    assert.deepEqual(volumes.map((v) => v.name).sort(), [...new Set([...held.n1!, ...held.n2!])].sort());
    assert.deepEqual(missed, [{ node: 'node3', why: 'it is down' }]);
    await Promise.all(volumes.map((v) => engine.removeVolume(v.name)));
    // Each copy of a name, on each node that holds one.
    assert.deepEqual([held.n1!.size, held.n2!.size, held.n3!.size], [0, 0, 3]);
  });

  it("runs the removal on the volume's node, in the student's image, with that node's engine socket", () => {
    const spec = removalJobSpec('j', { nodeId: 'n2', image: 'labctl/mail:abc' }, ['a', 'b']);
    assert.deepEqual(spec.TaskTemplate.Placement.Constraints, ['node.id==n2']);
    assert.equal(spec.TaskTemplate.ContainerSpec.Image, 'labctl/mail:abc');
    assert.deepEqual(spec.TaskTemplate.ContainerSpec.Command.slice(0, 2), ['perl', '-e']);
    assert.deepEqual(spec.TaskTemplate.ContainerSpec.Command.slice(3), ['a', 'b']);
    assert.deepEqual(spec.TaskTemplate.ContainerSpec.Mounts, [
      { Type: 'bind', Source: '/var/run/docker.sock', Target: '/var/run/docker.sock' },
    ]);
    assert.deepEqual(spec.TaskTemplate.RestartPolicy, { Condition: 'none' });
    assert.deepEqual(Object.keys(spec.Labels), ['dev.labctl.job'], 'a job is no object of the class');
  });

  it("reads the job's report: removed or already gone is gone; in use, or not reported, stays", () => {
    const results = removalResults(
      'a 204 \nb 404 {"message":"no such volume"}\nc 409 {"message":"volume is in use"}\n',
      ['a', 'b', 'c', 'd'],
    );
    assert.deepEqual(Object.fromEntries(results), {
      a: undefined,
      b: undefined,
      c: '409 {"message":"volume is in use"}',
      d: 'the job did not report on it',
    });
  });
});
