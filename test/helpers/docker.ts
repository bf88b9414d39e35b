import Docker from 'dockerode';

const docker = new Docker();

/** Removes every object of a test class, by label: containers, networks, volumes. */
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

export async function exec(name: string, cmd: string[]): Promise<{ code: number; output: string }> {
  const e = await docker.getContainer(name).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await e.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  await new Promise((r) => stream.on('end', r));
  const raw = Buffer.concat(chunks);
  let out = '';
  for (let i = 0; i + 8 <= raw.length;) {
    const size = raw.readUInt32BE(i + 4);
    out += raw.subarray(i + 8, i + 8 + size).toString();
    i += 8 + size;
  }
  return { code: (await e.inspect()).ExitCode ?? -1, output: out };
}

export { docker };
