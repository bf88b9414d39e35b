import type Docker from 'dockerode';
import { ExitCode, LabctlError } from '../../errors.js';
import type { WorkloadSpec } from '../engine.js';
import { engineMessage, failed, removed, statusIs } from '../errors.js';
import type { VolumeDriver } from './student-disks.js';
import { retry } from '../retry.js';

/**
 * What `docker run` would be asked for a student's workload: its ports, volumes (a missing one made with its labels,
 * on the student's disk when `drivers` gives one), network, restart policy, limits and security options.
 */
export function containerBody(spec: WorkloadSpec, drivers: VolumeDriver[]): Docker.ContainerCreateOptions {
  const exposed: Record<string, object> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of spec.ports) {
    exposed[`${p.container}/tcp`] = {};
    bindings[`${p.container}/tcp`] = [{ HostIp: spec.bind, HostPort: String(p.host) }];
  }
  return {
    name: spec.name,
    Image: spec.image,
    Hostname: spec.hostname,
    ...(spec.security?.user && { User: spec.security.user }),
    Labels: spec.labels,
    Env: spec.env ?? [],
    ExposedPorts: exposed,
    HostConfig: {
      PortBindings: bindings,
      // VolumeOptions is the API's (a missing volume is made with these labels); @types/dockerode lacks it.
      Mounts: spec.mounts.map((m, i) => ({
        Type: 'volume',
        Source: m.volume,
        Target: m.target,
        ReadOnly: m.readOnly ?? false,
        ...(m.labels && {
          VolumeOptions: { Labels: m.labels, ...(drivers[i] && { DriverConfig: drivers[i] }) },
        }),
      })) as Docker.MountSettings[],
      NetworkMode: spec.network,
      RestartPolicy: { Name: 'unless-stopped' },
      ...(spec.limits && {
        LogConfig: {
          Type: 'json-file',
          Config: { 'max-size': spec.limits.log.maxSize, 'max-file': String(spec.limits.log.maxFiles) },
        },
        PidsLimit: spec.limits.pids,
        Memory: spec.limits.memoryBytes,
        MemorySwap: spec.limits.memoryBytes,
        NanoCpus: Math.round(spec.limits.cpus * 1e9),
      }),
      CapAdd: spec.security?.capAdd ?? [],
      CapDrop: spec.security?.capDrop ?? [],
      SecurityOpt: spec.security?.noNewPrivileges ? ['no-new-privileges:true'] : [],
      ReadonlyRootfs: spec.security?.readOnlyRootfs ?? false,
      Tmpfs: spec.security?.tmpfs ?? {},
    },
  };
}

export async function createContainer(docker: Docker, spec: WorkloadSpec, drivers: VolumeDriver[]): Promise<void> {
  try {
    // Only the name in the address: dockerode would put every option there too (the server's configuration is
    // tens of KB), which a proxy in front of the engine may refuse, and the engine parses twice.
    const body = containerBody(spec, drivers);
    await docker.createContainer({ _query: { name: spec.name }, _body: body } as Docker.ContainerCreateOptions);
  } catch (error) {
    throw failed(`create container ${spec.name}`, error);
  }
}

/** Starts a container (one already running is fine); a host port taken by something else is a conflict. */
export async function startContainer(docker: Docker, name: string): Promise<void> {
  try {
    await docker.getContainer(name).start();
  } catch (error) {
    if (statusIs(error, 304)) return;
    const message = engineMessage(error);
    const port = /(?:port is already allocated|address already in use).*?(\d+)?/i.exec(message);
    if (port) {
      throw new LabctlError(
        ExitCode.conflict,
        `Cannot start ${name}: a host port is taken (${message.trim()}).`,
        'Free that port or choose another --base-port.',
        'port-taken',
      );
    }
    throw failed(`start container ${name}`, error);
  }
}

/** Stops a container; one already stopped or gone is fine. */
export async function stopContainer(docker: Docker, name: string, timeoutSeconds: number): Promise<void> {
  try {
    await docker.getContainer(name).stop({ t: timeoutSeconds });
  } catch (error) {
    if (statusIs(error, 304, 404)) return;
    throw failed(`stop container ${name}`, error);
  }
}

/**
 * Under heavy load (a class of 150 on two cores) the engine may answer that it "could not kill" a container whose
 * process is a zombie not yet reaped: asked again, a second apart, for half a minute.
 */
const notReapedYet = (error: unknown) => statusIs(error, 500) && /is zombie|could not kill/i.test(engineMessage(error));

export function removeContainer(docker: Docker, name: string, delayMs = 1000): Promise<void> {
  return removed(
    `container ${name}`,
    retry(() => docker.getContainer(name).remove({ force: true }), { tries: 30, delayMs, retryable: notReapedYet }),
  );
}

export async function renameContainer(docker: Docker, from: string, to: string): Promise<void> {
  try {
    await docker.getContainer(from).rename({ name: to });
  } catch (error) {
    throw failed(`rename container ${from} to ${to}`, error);
  }
}
