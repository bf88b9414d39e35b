import net from 'node:net';
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

/** A base port whose whole plan for n students is free on loopback. */
export async function freeBasePort(students: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + 1000 * Math.floor(Math.random() * 10);
    const ports = Array.from({ length: students }, (_, i) =>
      [25, 110, 143, 22, 80].map((o) => base + (i + 1) * 1000 + o),
    ).flat();
    if ((await Promise.all(ports.map(isFree))).every(Boolean)) return base;
  }
  throw new Error('no free base port found');
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1' }, () => s.close(() => resolve(true)));
  });
}
