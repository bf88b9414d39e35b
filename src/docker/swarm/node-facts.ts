import type Docker from 'dockerode';
import { dockerClient } from '../client.js';
import type { NodeFacts } from '../engine.js';
import { nodeAddress, type SwarmNode } from './api.js';
import { awaitJob } from './jobs.js';
import { listNodes } from './nodes.js';
import { JOB_LABEL } from './services.js';

/**
 * What `doctor` says of each node of the swarm: its state, and what only the node's own engine knows (its images, the
 * free disk of its Docker root, the room on its docker_gwbridge), asked by a job pinned to it, as `down --purge`
 * removes volumes there (volumes.ts): no ssh and no worker's API, only the manager's. A node that is not ready is
 * listed as it is, and not asked.
 */

const SOCKET = '/var/run/docker.sock';
/** The node's root, read-only: `df` of its Docker root, wherever /info says that is. */
const HOST_ROOT = '/host';

/** Perl (perl-base is in every Debian image) asks the node's engine over its socket; one line a fact. */
const FACTS_SCRIPT = `use strict; use IO::Socket::UNIX;
sub get { my ($path) = @_;
  my $s = IO::Socket::UNIX->new(Peer => '${SOCKET}') or die "cannot reach the node's engine at ${SOCKET}: $!\\n";
  print $s "GET $path HTTP/1.0\\r\\nHost: docker\\r\\n\\r\\n";
  my $r = do { local $/; <$s> }; close $s;
  my ($code) = $r =~ m{^HTTP/\\S+ (\\d+)}; my ($body) = $r =~ m{\\r\\n\\r\\n(.*)}s;
  return ($code // 0, $body // '');
}
my (undef, $info) = get('/info');
my ($root) = $info =~ m{"DockerRootDir":"([^"]*)"};
$root //= '/var/lib/docker';
print "root $root\\n";
my @df = split /\\s+/, ((split /\\n/, \`df -P -B1 ${HOST_ROOT}$root\`)[1] // '');
print "disk $df[3] $df[1]\\n" if @df > 3;
for my $ref (@ARGV) {
  my ($code, $body) = get("/images/$ref/json");
  my ($id) = $body =~ m{"Id":"(sha256:[0-9a-f]+)"};
  print "image $ref ", ($code == 200 && $id ? $id : 'missing'), "\\n";
}
my ($code, $net) = get('/networks/docker_gwbridge');
if ($code == 200) {
  my ($subnet) = $net =~ m{"Subnet":"([^"]+)"};
  my $endpoints = () = $net =~ m{"IPv4Address":"}g;
  print "gwbridge $subnet $endpoints\\n" if $subnet;
}`;

/** The job's service: labctl's image (`images[0]`), pinned to the node, its engine's socket and root mounted. */
export function factsJobSpec(name: string, nodeId: string, images: string[]) {
  return {
    Name: name,
    Labels: { [JOB_LABEL]: 'doctor' },
    TaskTemplate: {
      ContainerSpec: {
        Image: images[0],
        User: '0',
        Command: ['perl', '-e', FACTS_SCRIPT, ...images],
        Mounts: [
          { Type: 'bind', Source: SOCKET, Target: SOCKET },
          { Type: 'bind', Source: '/', Target: HOST_ROOT, ReadOnly: true },
        ],
        StopGracePeriod: 1e9,
      },
      RestartPolicy: { Condition: 'none' },
      Placement: { Constraints: [`node.id==${nodeId}`] },
      LogDriver: { Name: 'json-file', Options: {} },
    },
    Mode: { Replicated: { Replicas: 1 } },
  };
}

/** The job's lines, as facts; `current`: the manager's ID of each image. */
export function parseFacts(output: string, current: Map<string, string | undefined>): Partial<NodeFacts> {
  const facts: Partial<NodeFacts> = {};
  const images: NonNullable<NodeFacts['images']> = [];
  for (const line of output.split('\n')) {
    const [kind, a, b] = line.trim().split(' ');
    if (kind === 'root' && a) facts.dockerRoot = a;
    else if (kind === 'disk' && a) facts.freeBytes = Number(a);
    else if (kind === 'image' && a && b) {
      const id = b === 'missing' ? undefined : b;
      images.push({ ref: a, ...(id && { id }), current: id !== undefined && id === current.get(a) });
    } else if (kind === 'gwbridge' && a && b) {
      const prefix = Number(a.split('/')[1]);
      // Its network and broadcast addresses are no one's; its gateway is taken, beside each endpoint.
      facts.gwbridge = { subnet: a, used: Number(b) + 1, size: 2 ** (32 - prefix) - 2 };
    }
  }
  if (images.length > 0) facts.images = images;
  return facts;
}

function described(n: SwarmNode): NodeFacts {
  return {
    name: n.Description.Hostname,
    address: nodeAddress(n) ?? '',
    role: n.Spec.Role,
    state: n.Status.State,
    availability: n.Spec.Availability,
  };
}

/**
 * Every node of the swarm, each ready one asked by a job, all at once and within `timeoutMs`: a job that does not
 * finish by then (or cannot run: a node without labctl's image, say) leaves its node's facts unknown, saying why.
 */
export async function nodeFacts(
  images: string[],
  docker: Docker = dockerClient(),
  timeoutMs = 30_000,
  signal?: AbortSignal,
): Promise<NodeFacts[]> {
  const [nodes, current] = await Promise.all([
    listNodes(docker),
    Promise.all(
      images.map(
        async (ref) =>
          [
            ref,
            await docker
              .getImage(ref)
              .inspect()
              .then(
                (i) => i.Id,
                () => undefined,
              ),
          ] as const,
      ),
    ).then((pairs) => new Map(pairs)),
  ]);
  const ask = async (n: SwarmNode): Promise<NodeFacts> => {
    const node = described(n);
    if (n.Status.State !== 'ready') return { ...node, unknown: `not asked: the node is ${n.Status.State}` };
    const name = `labctl-doctor-${n.ID.slice(0, 12)}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
    try {
      signal?.throwIfAborted();
      await docker.createService(factsJobSpec(name, n.ID, images) as unknown as Docker.CreateServiceOptions);
      // Ctrl-C: the job is removed (awaitJob), and doctor ends without a row for the node.
      const run = await awaitJob(docker, name, `node ${node.name}`, timeoutMs, signal);
      const facts = parseFacts(run.stdout, current);
      if (run.exitCode !== 0 || facts.images === undefined)
        return { ...node, ...facts, unknown: run.stderr.trim() || `its job exited ${run.exitCode}` };
      return { ...node, ...facts };
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      const why = (error as Error).message.replace(/^Job \S+ for node \S+ could not run: /, '');
      // The job runs in labctl's mail image: a node without it cannot run it.
      const missing = /No such image/i.test(why) ? [{ ref: images[0]!, current: false }] : undefined;
      return { ...node, ...(missing && { images: missing }), unknown: `its job could not run: ${why}` };
    }
  };
  return Promise.all(nodes.map(ask));
}
