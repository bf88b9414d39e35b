import Docker from 'dockerode';
import { HostDisks } from '../../src/docker/disks.js';

const docker = new Docker();

/** Removes every object of a test class, by label: containers, networks, volumes, and the students' disks. */
export async function cleanClass(className: string): Promise<void> {
  const filters = { label: [`dev.labctl.class=${className}`] };
  for (const c of await docker.listContainers({ all: true, filters }))
    await docker
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => {});
  for (const n of await docker.listNetworks({ filters }))
    await docker
      .getNetwork(n.Id)
      .remove()
      .catch(() => {});
  for (const v of (await docker.listVolumes({ filters })).Volumes ?? [])
    await docker
      .getVolume(v.Name)
      .remove()
      .catch(() => {});
  // The disks are the host's (a loop-mounted file each), labelled like the rest: left, every run kept them mounted.
  const disks = new HostDisks();
  for (const d of await disks.list())
    if (d.labels['dev.labctl.class'] === className) await disks.remove(d.name).catch(() => {});
}

export async function labelled(className: string) {
  const filters = { label: [`dev.labctl.class=${className}`] };
  const [containers, networks, volumes] = await Promise.all([
    docker.listContainers({ all: true, filters }),
    docker.listNetworks({ filters }),
    docker.listVolumes({ filters }),
  ]);
  return { containers, networks, volumes: volumes.Volumes ?? [] };
}

export async function containerId(name: string): Promise<string> {
  return (await docker.getContainer(name).inspect()).Id;
}

/** stdout and stderr of Docker's multiplexed stream, in order, as text. */
function demux(raw: Buffer): string {
  let out = '';
  for (let i = 0; i + 8 <= raw.length;) {
    const size = raw.readUInt32BE(i + 4);
    out += raw.subarray(i + 8, i + 8 + size).toString();
    i += 8 + size;
  }
  return out;
}

export async function exec(name: string, cmd: string[]): Promise<{ code: number; output: string }> {
  const e = await docker.getContainer(name).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await e.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  await new Promise((r) => stream.on('end', r));
  return { code: (await e.inspect()).ExitCode ?? -1, output: demux(Buffer.concat(chunks)) };
}

/** What a container wrote so far (stdout and stderr). */
export async function containerLogs(name: string): Promise<string> {
  const raw = (await docker.getContainer(name).logs({ stdout: true, stderr: true })) as unknown as Buffer;
  return demux(raw);
}

/**
 * Runs `script` (sh) to its end in a container of its own, as root, from `image`, with `volumes` (name -> mount point)
 * mounted and `labels` (a class's, so that cleanClass removes it if it is left); resolves to its exit code and output.
 */
export async function runOnce(
  image: string,
  script: string,
  volumes: Record<string, string>,
  labels: Record<string, string>,
): Promise<{ code: number; output: string }> {
  const container = await docker.createContainer({
    Image: image,
    User: '0:0',
    Entrypoint: ['sh', '-c', script],
    Labels: labels,
    HostConfig: {
      NetworkMode: 'none',
      Mounts: Object.entries(volumes).map(([Source, Target]) => ({ Type: 'volume', Source, Target })),
    },
  });
  try {
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    return { code: StatusCode, output: await containerLogs(container.id) };
  } finally {
    await container.remove({ force: true }).catch(() => {});
  }
}

export { docker };
