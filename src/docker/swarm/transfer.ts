import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type Docker from 'dockerode';
import { ExitCode, LabctlError } from '../../errors.js';
import { failed } from '../errors.js';
import { until } from '../retry.js';
import { demux } from '../streams.js';
import { newest, nodeAddress, type SwarmNode, type SwarmService, type SwarmTask } from './api.js';
import { awaitJob, removeJob, serviceLogs } from './jobs.js';
import { JOB_LABEL, inspectService, serviceTasks } from './services.js';

/**
 * A student's volumes carried from one node to another through labctl: a job on the old node (the volumes mounted
 * read-only) sends them as a tar, a job on the new node (the same volumes, which that node creates with their labels)
 * receives it, and labctl relays one into the other. Each job listens on a port its node publishes (host mode, a
 * port the node picks), as the student's own ports are published, and serves only a connection that first sends the
 * job's one-time token; the stream is encrypted with a one-time key (both travel in the job's spec, through the
 * manager). Each side prints a digest of what the volumes hold (names, types, modes, owners, contents), which labctl
 * reads back through the manager and compares. Nothing needs ssh to the nodes or a registry.
 */

const PORT = 7070;
const DIR = '/move';

/**
 * The digest of the volumes named in $@ (under the current directory): the same on both sides when nothing is lost.
 * Sockets are left out (tar does not carry them: Postfix makes its own again as it starts).
 */
const MANIFEST = `set -o pipefail
{ find "$@" ! -type s -printf '%y %m %U:%G %p %l\\n' | LC_ALL=C sort
  find "$@" -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum; } | sha256sum | cut -d' ' -f1`;

const SEND = `set -o pipefail
tar --numeric-owner -cf - "$@" | openssl enc -e -aes-256-ctr -pbkdf2 -pass env:LABCTL_MOVE_KEY`;

/** Whatever the new node held under these names is no student's data (theirs is on the old node): emptied first. */
const RECEIVE = `set -o pipefail
for v; do find "$v" -mindepth 1 -delete || exit; done
openssl enc -d -aes-256-ctr -pbkdf2 -pass env:LABCTL_MOVE_KEY | tar --numeric-owner -xpf -`;

/**
 * Perl (perl-base is in every Debian image): listens, takes the first connection whose first line is the token (any
 * other is closed; each has 10 s to send it), then runs the send or receive pipeline on it.
 */
const JOB_SCRIPT = `use strict; use IO::Socket::INET; use Socket qw(SOL_SOCKET SO_RCVTIMEO);
$| = 1;
my ($mode, @vols) = @ARGV;
my $token = delete $ENV{LABCTL_MOVE_TOKEN};
chdir '${DIR}' or die "no ${DIR}: $!\\n";
sub manifest {
  open(my $m, '-|', 'bash', '-c', q{${MANIFEST}}, 'manifest', @vols) or die "manifest: $!\\n";
  my $digest = <$m>; close $m or die "the manifest of the volumes failed\\n";
  print "manifest $digest";
}
manifest() if $mode eq 'send';
my $l = IO::Socket::INET->new(LocalPort => ${PORT}, Listen => 8, ReuseAddr => 1) or die "cannot listen: $!\\n";
print "listening\\n";
my $deadline = time + 600;
my $c;
until ($c) {
  my $left = $deadline - time;
  die "no connection brought the token in 600 s\\n" if $left <= 0;
  $l->timeout($left);
  my $try = $l->accept or next;
  setsockopt($try, SOL_SOCKET, SO_RCVTIMEO, pack('l!l!', 10, 0));
  my $line = '';
  while ($line !~ /\\n\\z/ && length $line < 100) { sysread($try, my $b, 1) or last; $line .= $b; }
  if ($line eq "$token\\n") { $c = $try } else { close $try }
}
close $l;
setsockopt($c, SOL_SOCKET, SO_RCVTIMEO, pack('l!l!', 0, 0));
my $pid = fork // die "fork: $!\\n";
if (!$pid) {
  if ($mode eq 'send') { open(STDOUT, '>&', $c) or die } else { open(STDIN, '<&', $c) or die }
  exec('bash', '-c', $mode eq 'send' ? q{${SEND}} : q{${RECEIVE}}, $mode, @vols) or die "exec: $!\\n";
}
waitpid($pid, 0);
exit($? >> 8 || 1) if $?;
if ($mode eq 'send') {
  # What the kernel still holds to send is lost if the task ends now (its network goes with it): wait until labctl
  # has read it all and closes.
  shutdown($c, 1);
  setsockopt($c, SOL_SOCKET, SO_RCVTIMEO, pack('l!l!', 120, 0));
  1 while sysread($c, my $b, 4096);
}
close $c;
manifest() if $mode eq 'receive';`;

/** A volume mount of the student's services, as the service spec gives it. */
export interface VolumeMount {
  Type: string;
  Source: string;
  Target: string;
  ReadOnly?: boolean;
  VolumeOptions?: unknown;
}

/** One student's services (their mail service first found by role), and every volume they mount, once each. */
export async function studentServices(
  docker: Docker,
  roleKey: string,
  names: string[],
): Promise<{ services: SwarmService[]; mail: SwarmService; mounts: VolumeMount[] }> {
  const services: SwarmService[] = [];
  for (const name of names) {
    const s = await inspectService(docker, name);
    if (!s) throw new LabctlError(ExitCode.engine, `Service ${name} is not on the swarm.`);
    services.push(s);
  }
  const mounts = new Map<string, VolumeMount>();
  for (const s of services)
    for (const m of s.Spec.TaskTemplate.ContainerSpec.Mounts)
      if (m.Type === 'volume' && !mounts.has(m.Source)) mounts.set(m.Source, m as VolumeMount);
  const mail = services.find((s) => s.Spec.Labels[roleKey] === 'mail') ?? services[0]!;
  return { services, mail, mounts: [...mounts.values()] };
}

export interface Transfer {
  /** The student's mail service (the jobs are its jobs, so removing it removes them). */
  mailName: string;
  /** The mail image: every node of the class has it. */
  image: string;
  mounts: VolumeMount[];
  from: SwarmNode;
  to: SwarmNode;
  /**
   * The volume each side mounts for a mount of the student's (else its own Source), and the labels a volume the
   * receiving side makes carries: a snapshot is the student's volumes under other names (snapshot.ts).
   */
  volumeOn?: {
    send?: (source: string) => string;
    receive?: (source: string) => { name: string; labels: Record<string, string> };
  };
}

type PortedTask = SwarmTask & { Status: { PortStatus?: { Ports?: { PublishedPort?: number }[] } } };

function jobSpec(name: string, t: Transfer, mode: 'send' | 'receive', node: SwarmNode, token: string, key: string) {
  return {
    Name: name,
    Labels: { [JOB_LABEL]: t.mailName },
    TaskTemplate: {
      ContainerSpec: {
        Image: t.image,
        User: '0',
        Env: [`LABCTL_MOVE_TOKEN=${token}`, `LABCTL_MOVE_KEY=${key}`],
        Command: ['perl', '-e', JOB_SCRIPT, mode, ...t.mounts.map((m) => m.Source)],
        Mounts: t.mounts.map((m) => {
          const renamed = mode === 'send' ? t.volumeOn?.send?.(m.Source) : t.volumeOn?.receive?.(m.Source);
          const options =
            mode === 'receive' && typeof renamed === 'object' ? { Labels: renamed.labels } : m.VolumeOptions;
          return {
            Type: 'volume',
            Source: typeof renamed === 'string' ? renamed : (renamed?.name ?? m.Source),
            Target: `${DIR}/${m.Source}`,
            ReadOnly: mode === 'send',
            ...(options !== undefined && { VolumeOptions: options }),
          };
        }),
        StopGracePeriod: 1e9,
      },
      RestartPolicy: { Condition: 'none' },
      Placement: { Constraints: [`node.id==${node.ID}`] },
      LogDriver: { Name: 'json-file', Options: {} },
    },
    Mode: { Replicated: { Replicas: 1 } },
    EndpointSpec: { Ports: [{ Protocol: 'tcp', TargetPort: PORT, PublishMode: 'host' }] },
  };
}

/** Where a job listens: its node's address and the port the node gave it, once the job says it listens. */
async function listening(docker: Docker, name: string, node: SwarmNode): Promise<{ host: string; port: number }> {
  let port: number | undefined;
  let why = 'it did not start';
  const ready = await until(
    async () => {
      const task = newest(await serviceTasks(docker, name)) as PortedTask | undefined;
      const state = task?.Status.State ?? 'new';
      if (['failed', 'rejected', 'complete', 'shutdown', 'orphaned'].includes(state)) {
        const out = demux(await serviceLogs(docker, name).catch(() => Buffer.alloc(0)));
        throw new LabctlError(
          ExitCode.engine,
          `The copy's job on node ${node.Description.Hostname} stopped (${state}${task?.Status.Err ? `: ${task.Status.Err}` : ''}): ${(out.stderr || out.stdout).trim() || 'no output'}`,
        );
      }
      why = `its task is ${state}${task?.Status.Err ? ` (${task.Status.Err})` : ''}`;
      port = task?.Status.PortStatus?.Ports?.[0]?.PublishedPort;
      if (state !== 'running' || !port) return false;
      return demux(await serviceLogs(docker, name)).stdout.includes('listening\n');
    },
    { timeoutMs: 120_000, intervalMs: 300 },
  );
  const host = nodeAddress(node);
  if (!ready || !port || !host) {
    throw new LabctlError(
      ExitCode.engine,
      `The copy's job on node ${node.Description.Hostname} did not get ready in 120 s: ${why}.`,
      'See `docker service ps` on the manager; the node may lack the mail image (`labctl images load`).',
    );
  }
  return { host, port };
}

function connect(host: string, port: number, token: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port }, () => {
      socket.removeAllListeners('error');
      socket.write(`${token}\n`);
      resolve(socket);
    });
    socket.once('error', (error: Error) =>
      reject(new LabctlError(ExitCode.engine, `Cannot reach the copy's job at ${host}:${port}: ${error.message}.`)),
    );
  });
}

/** Relays the sender's stream into the receiver; resolves to the bytes relayed once the receiver has all of it. */
function relay(from: net.Socket, to: net.Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const fail = (error: Error) => {
      from.destroy();
      to.destroy();
      reject(error);
    };
    from.on('data', (chunk: Buffer) => (bytes += chunk.length));
    from.setTimeout(120_000, () => fail(new Error('nothing came from the old node in 120 s')));
    from.once('error', fail);
    to.once('error', fail);
    // The receiver closes once it has extracted everything: its side ends after ours.
    to.once('close', () => resolve(bytes));
    to.resume();
    from.pipe(to);
  });
}

const digestOf = (stdout: string) => /^manifest ([0-9a-f]{64})$/m.exec(stdout)?.[1];

/**
 * Copies the volumes `t.mounts` from node `t.from` to node `t.to` (the services that mount them are stopped), and
 * checks that the copy holds what the original does; resolves to the bytes carried. The old node's volumes are
 * only read.
 */
export async function copyVolumes(docker: Docker, t: Transfer): Promise<number> {
  const token = randomBytes(24).toString('hex');
  const key = randomBytes(32).toString('hex');
  const stamp = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
  const names = { send: `${t.mailName}-send-${stamp}`, receive: `${t.mailName}-receive-${stamp}` };
  const created: string[] = [];
  try {
    for (const [mode, node] of [
      ['send', t.from],
      ['receive', t.to],
    ] as const) {
      try {
        await docker.createService(
          jobSpec(names[mode], t, mode, node, token, key) as unknown as Docker.CreateServiceOptions,
        );
      } catch (error) {
        throw failed(`start the copy's job on node ${node.Description.Hostname}`, error);
      }
      created.push(names[mode]);
    }
    const [source, target] = await Promise.all([
      listening(docker, names.send, t.from),
      listening(docker, names.receive, t.to),
    ]);
    const receiver = await connect(target.host, target.port, token);
    const sender = await connect(source.host, source.port, token).catch((error: Error) => {
      receiver.destroy();
      throw error;
    });
    const bytes = await relay(sender, receiver).catch((error: Error) => {
      throw new LabctlError(ExitCode.engine, `The copy was cut: ${error.message}.`);
    });
    const [sent, received] = await Promise.all([
      awaitJob(docker, names.send, `the copy from node ${t.from.Description.Hostname}`),
      awaitJob(docker, names.receive, `the copy to node ${t.to.Description.Hostname}`),
    ]);
    created.length = 0;
    for (const [run, node] of [
      [sent, t.from],
      [received, t.to],
    ] as const) {
      if (run.exitCode !== 0) {
        throw new LabctlError(
          ExitCode.engine,
          `The copy's job on node ${node.Description.Hostname} failed (exit ${run.exitCode}): ${run.stderr.trim() || 'no output'}`,
        );
      }
    }
    const [before, after] = [digestOf(sent.stdout), digestOf(received.stdout)];
    if (!before || before !== after) {
      throw new LabctlError(
        ExitCode.engine,
        `The copy on node ${t.to.Description.Hostname} does not hold what node ${t.from.Description.Hostname} does (digest ${after ?? 'none'}, expected ${before ?? 'none'}).`,
      );
    }
    return bytes;
  } finally {
    await Promise.all(created.map((name) => removeJob(docker, name)));
  }
}
