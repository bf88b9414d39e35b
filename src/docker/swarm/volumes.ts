import type Docker from 'dockerode';
import { ExitCode, LabctlError } from '../../errors.js';
import { failed } from '../errors.js';
import type { MissedNode } from '../engine.js';
import type { SwarmNode, SwarmService } from './api.js';
import { pinnedNode } from './constraints.js';
import { awaitJob } from './jobs.js';
import { listNodes } from './nodes.js';
import { JOB_LABEL } from './services.js';

/**
 * A student's volumes live on the node their services are pinned to, where the manager's engine cannot remove them.
 * They are removed there by a job: a one-off service on that node, in an image it has (the student's own), that asks
 * the node's engine over its socket. Nothing needs the worker's API nor ssh to it.
 */

/** Where a volume lives: the node its service is pinned to, and an image that node has (that service's). */
export interface VolumeHome {
  nodeId: string;
  image: string;
}

/** The home of every volume the services mount. */
export function volumeHomes(services: SwarmService[]): Map<string, VolumeHome> {
  const homes = new Map<string, VolumeHome>();
  for (const s of services) {
    const nodeId = pinnedNode(s.Spec.TaskTemplate.Placement?.Constraints);
    if (!nodeId) continue;
    const image = s.Spec.TaskTemplate.ContainerSpec.Image;
    for (const m of s.Spec.TaskTemplate.ContainerSpec.Mounts ?? [])
      if (m.Type === 'volume') homes.set(m.Source, { nodeId, image });
  }
  return homes;
}

const SOCKET = '/var/run/docker.sock';

/**
 * Perl (perl-base is in every Debian image) removes each volume named in its arguments through the node's engine,
 * and prints `NAME STATUS MESSAGE` for each. A volume still held by the container of a task that just stopped
 * answers 409 for a moment: asked again.
 */
const REMOVE_SCRIPT = `use strict; use IO::Socket::UNIX;
for my $v (@ARGV) {
  my ($code, $body) = (0, '');
  for my $try (1 .. 60) {
    my $s = IO::Socket::UNIX->new(Peer => '${SOCKET}') or die "cannot reach the node's engine at ${SOCKET}: $!\\n";
    print $s "DELETE /volumes/$v HTTP/1.0\\r\\nHost: docker\\r\\n\\r\\n";
    my $r = do { local $/; <$s> }; close $s;
    ($code) = $r =~ m{^HTTP/\\S+ (\\d+)}; ($body) = $r =~ m{\\r\\n\\r\\n(.*)}s;
    last unless $code == 409;
    select(undef, undef, undef, 0.5);
  }
  $body //= ''; $body =~ s/\\s+/ /g;
  print "$v $code $body\\n";
}`;

/** The job's service: pinned to the node, the node's engine socket mounted, never restarted. */
export function removalJobSpec(name: string, home: VolumeHome, volumes: string[]) {
  return {
    Name: name,
    Labels: { [JOB_LABEL]: 'volumes' },
    TaskTemplate: {
      ContainerSpec: {
        Image: home.image,
        User: '0',
        Command: ['perl', '-e', REMOVE_SCRIPT, ...volumes],
        Mounts: [{ Type: 'bind', Source: SOCKET, Target: SOCKET }],
        StopGracePeriod: 1e9,
      },
      RestartPolicy: { Condition: 'none' },
      Placement: { Constraints: [`node.id==${home.nodeId}`] },
      LogDriver: { Name: 'json-file', Options: {} },
    },
    Mode: { Replicated: { Replicas: 1 } },
  };
}

/** The job's report: for each volume, whether it is gone (removed, or already gone) or why not. */
export function removalResults(output: string, volumes: string[]): Map<string, string | undefined> {
  const results = new Map<string, string | undefined>(volumes.map((v) => [v, 'the job did not report on it']));
  for (const line of output.split('\n')) {
    const m = /^(\S+) (\d+) ?(.*)$/.exec(line);
    if (!m || !results.has(m[1]!)) continue;
    const status = Number(m[2]);
    results.set(m[1]!, status === 204 || status === 404 ? undefined : `${status} ${m[3]!.trim()}`.trim());
  }
  return results;
}

const nodeName = (node: SwarmNode | undefined, id: string) => node?.Description.Hostname ?? id;

/** Perl asks the node's engine for the volumes matching the filters in its argument, and prints the answer. */
const LIST_SCRIPT = `use strict; use IO::Socket::UNIX;
my $s = IO::Socket::UNIX->new(Peer => '${SOCKET}') or die "cannot reach the node's engine at ${SOCKET}: $!\\n";
print $s "GET /volumes?filters=$ARGV[0] HTTP/1.0\\r\\nHost: docker\\r\\n\\r\\n";
my $r = do { local $/; <$s> }; close $s;
my ($code) = $r =~ m{^HTTP/\\S+ (\\d+)}; my ($body) = $r =~ m{\\r\\n\\r\\n(.*)}s;
$code //= 0; die "the node's engine answered $code\\n" unless $code == 200;
print $body;`;

/** The listing job's service: as a removal job, with LIST_SCRIPT. */
export function listJobSpec(name: string, home: VolumeHome, filters: Record<string, string[]>) {
  const spec = removalJobSpec(name, home, []);
  spec.TaskTemplate.ContainerSpec.Command = ['perl', '-e', LIST_SCRIPT, encodeURIComponent(JSON.stringify(filters))];
  return spec;
}

/** The volumes of the engine's answer to GET /volumes, by name with their labels. */
export function listedVolumes(output: string): { name: string; labels: Record<string, string> }[] {
  const answer = JSON.parse(output) as { Volumes?: { Name: string; Labels?: Record<string, string> | null }[] | null };
  return (answer.Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} }));
}

/**
 * The volumes carrying `label` (key=value) on each ready node, each with its home, asked by a job on every node at
 * once. A job runs in an image its node has: the first of `images` it can run. `missed`: the nodes not asked, and why.
 */
export async function volumesOnNodes(
  docker: Docker,
  label: string,
  images: string[],
): Promise<{ volumes: { name: string; labels: Record<string, string>; home: VolumeHome }[]; missed: MissedNode[] }> {
  const nodes = await listNodes(docker);
  const volumes: { name: string; labels: Record<string, string>; home: VolumeHome }[] = [];
  const missed: MissedNode[] = [];
  await Promise.all(
    nodes.map(async (node) => {
      const where = nodeName(node, node.ID);
      if (node.Status.State !== 'ready') return missed.push({ node: where, why: `it is ${node.Status.State}` });
      let why = 'labctl has no image to run a job in';
      for (const image of images) {
        const home = { nodeId: node.ID, image };
        const name = `labctl-volumes-${node.ID.slice(0, 12)}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
        try {
          await docker.createService(
            listJobSpec(name, home, { label: [label] }) as unknown as Docker.CreateServiceOptions,
          );
          const run = await awaitJob(docker, name, `the volumes on node ${where}`, 60_000);
          if (run.exitCode !== 0) {
            why = run.stderr.trim() || `its job exited ${run.exitCode}`;
            break;
          }
          for (const v of listedVolumes(run.stdout)) volumes.push({ ...v, home });
          return;
        } catch (error) {
          why = (error as Error).message.replace(/^Job \S+ for .* could not run: /, 'its job could not run: ');
          // The node lacks this image: the next may do.
          if (!/No such image/i.test(why)) break;
        }
      }
      missed.push({ node: where, why });
    }),
  );
  return { volumes, missed };
}

/** Removes `volumes` on their node by a job; resolves to why each that is still there is (undefined: gone). */
export async function removeOnNode(
  docker: Docker,
  home: VolumeHome,
  volumes: string[],
): Promise<Map<string, string | undefined>> {
  const node = (await listNodes(docker)).find((n) => n.ID === home.nodeId);
  const where = nodeName(node, home.nodeId);
  if (!node || node.Status.State !== 'ready') {
    const state = node ? `is ${node.Status.State}` : 'has left the swarm';
    return new Map(volumes.map((v) => [v, `node ${where} ${state}`]));
  }
  const name = `labctl-volumes-${home.nodeId.slice(0, 12)}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
  try {
    await docker.createService(removalJobSpec(name, home, volumes) as unknown as Docker.CreateServiceOptions);
  } catch (error) {
    throw failed(`start a job on node ${where}`, error);
  }
  const run = await awaitJob(docker, name, `the volumes on node ${where}`);
  const results = removalResults(run.stdout, volumes);
  if (run.exitCode !== 0) {
    const why = run.stderr.trim() || `the job exited ${run.exitCode}`;
    for (const [v, r] of results) if (r) results.set(v, why);
  }
  return results;
}

/**
 * Gathers the removals asked for in one turn of the event loop (a student's volumes are asked for together) into
 * one job a node, and settles each: a volume that stays is an error naming its node and why.
 */
export class NodeVolumes {
  private readonly pending = new Map<string, { home: VolumeHome; waiters: Map<string, Waiter[]> }>();

  constructor(private readonly docker: Docker) {}

  remove(name: string, home: VolumeHome): Promise<void> {
    let batch = this.pending.get(home.nodeId);
    if (!batch) {
      batch = { home, waiters: new Map() };
      this.pending.set(home.nodeId, batch);
      setImmediate(() => void this.flush(home.nodeId));
    }
    const waiters = batch.waiters.get(name) ?? [];
    batch.waiters.set(name, waiters);
    return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
  }

  private async flush(nodeId: string): Promise<void> {
    const batch = this.pending.get(nodeId)!;
    this.pending.delete(nodeId);
    const names = [...batch.waiters.keys()];
    try {
      const results = await removeOnNode(this.docker, batch.home, names);
      for (const [name, waiters] of batch.waiters) {
        const why = results.get(name);
        for (const w of waiters)
          if (why === undefined) w.resolve();
          else
            w.reject(
              new LabctlError(
                ExitCode.engine,
                `Volume ${name} stays on its node: ${why}.`,
                'Bring the node back and run the command again, or remove the volume on that node (`docker volume rm`).',
                'volume-kept',
              ),
            );
      }
    } catch (error) {
      for (const waiters of batch.waiters.values()) for (const w of waiters) w.reject(error);
    }
  }
}

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}
