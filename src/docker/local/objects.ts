import type Docker from 'dockerode';
import { failed, statusIs } from '../errors.js';
import type { ClassObjects, WorkloadInfo } from '../engine.js';

const containerName = (c: Docker.ContainerInfo) => (c.Names[0] ?? c.Id).replace(/^\//, '');

/** The containers, networks and volumes carrying label `classKey` (= className when given); no disks. */
export async function listObjects(
  docker: Docker,
  classKey: string,
  className?: string,
): Promise<Omit<ClassObjects, 'disks'>> {
  const label = [className ? `${classKey}=${className}` : classKey];
  try {
    const [containers, networks, volumes] = await Promise.all([
      docker.listContainers({ all: true, filters: { label } }),
      docker.listNetworks({ filters: { label } }),
      docker.listVolumes({ filters: { label } }),
    ]);
    return {
      containers: containers.map((c): WorkloadInfo => ({
        id: c.Id,
        name: containerName(c),
        labels: c.Labels,
        image: c.Image,
        state: c.State,
        status: c.Status,
        ports: c.Ports.filter((p) => p.PublicPort).map((p) => ({
          container: p.PrivatePort,
          host: p.PublicPort,
          ip: p.IP ?? '',
        })),
      })),
      networks: networks.map((n) => ({ name: n.Name, labels: n.Labels ?? {} })),
      volumes: (volumes.Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} })),
    };
  } catch (error) {
    throw failed('list labctl objects', error);
  }
}

/** Names of all containers, networks and volumes, labelled or not. */
export async function objectNames(docker: Docker) {
  try {
    const [containers, networks, volumes] = await Promise.all([
      docker.listContainers({ all: true }),
      docker.listNetworks(),
      docker.listVolumes(),
    ]);
    return {
      containers: new Set(containers.flatMap((c) => c.Names.map((n) => n.replace(/^\//, '')))),
      networks: new Set(networks.map((n) => n.Name)),
      volumes: new Set((volumes.Volumes ?? []).map((v) => v.Name)),
    };
  } catch (error) {
    throw failed('list containers and networks', error);
  }
}

/** Host ports published by any container, running or not, and the container that holds each. */
export async function publishedPorts(docker: Docker): Promise<Map<number, string>> {
  try {
    const containers = await docker.listContainers({ all: true });
    const used = new Map<number, string>();
    for (const c of containers) {
      const name = containerName(c);
      for (const p of c.Ports) if (p.PublicPort) used.set(p.PublicPort, name);
      // A stopped container holds its bindings too, though they do not show in Ports.
      if (c.State !== 'running') {
        // A container removed since the listing holds nothing any more.
        const info = await docker
          .getContainer(c.Id)
          .inspect()
          .catch((error: unknown) => {
            if (statusIs(error, 404)) return undefined;
            throw error;
          });
        if (!info) continue;
        for (const bindings of Object.values(info.HostConfig.PortBindings ?? {}) as { HostPort?: string }[][]) {
          for (const b of bindings ?? []) if (b.HostPort) used.set(Number(b.HostPort), name);
        }
      }
    }
    return used;
  } catch (error) {
    throw failed('list published ports', error);
  }
}
