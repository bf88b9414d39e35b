import type Docker from 'dockerode';
import { ExitCode, LabctlError } from '../../errors.js';
import type { ExecResult } from '../engine.js';
import { failed } from '../errors.js';
import { until } from '../retry.js';
import { demux, readAll } from '../streams.js';
import { newest, type SwarmTask } from './api.js';
import { JOB_LABEL, inspectService, removeService, serviceTasks } from './services.js';

/**
 * A job: a one-off service running a command in a student's environment on their node (the mail image, their
 * configuration and volumes, as root), its output read back through the manager (service logs). So nothing needs the
 * worker's Docker API nor an exec into a container on another node.
 */

/**
 * What a job does before its command, as the mail server's entrypoint does at its start: unpack the student's
 * configuration and give the accounts their uids (the files already carry them), so that labctl-reset sees the
 * same accounts as the running server.
 */
const JOB_PREAMBLE = `set -e
if [ -n "\${LABCTL_SERVER_CONFIG:-}" ]; then printf '%s' "$LABCTL_SERVER_CONFIG" | base64 -d | tar -xzf - -C / --no-same-owner; fi
unset LABCTL_SERVER_CONFIG
if [ -s /etc/labctl/uids ]; then
  changes=$(awk -F: 'NR == FNR { split($0, a, " "); want[a[1]] = a[2]; next }
    ($1 in want) && $3 != want[$1] { print $1, $3, want[$1] }' /etc/labctl/uids /etc/passwd)
  [ -z "$changes" ] || sed -i "$(printf '%s\\n' "$changes" | awk '{ printf "s/^%s:x:%s:/%s:x:%s:/\\n", $1, $2, $1, $3 }')" /etc/passwd
fi
set +e
exec "$@"`;

const FINISHED = ['complete', 'failed', 'rejected', 'shutdown', 'orphaned'];

export interface JobOptions {
  /** Only the log, read-only (else the spool and homes, for a reset). */
  logOnly?: boolean;
  /** The mail server's volumes to mount, by where it mounts them (instead of the above); `readOnly`: all of them so. */
  targets?: string[];
  readOnly?: boolean;
}

/** Starts a job running `cmd` in student `mailName`'s environment on their node; resolves to the job's name. */
export async function startJob(
  docker: Docker,
  mailName: string,
  cmd: string[],
  options: JobOptions = {},
): Promise<string> {
  const mail = await inspectService(docker, mailName);
  if (!mail) throw new LabctlError(ExitCode.engine, `Service ${mailName} is not on the swarm.`);
  const spec = mail.Spec.TaskTemplate.ContainerSpec;
  // Only what the action needs: the log read-only for logs; the spool and homes for a reset.
  const wanted = options.targets ?? (options.logOnly ? ['/var/log'] : ['/var/mail', '/home']);
  const readOnly = options.readOnly ?? options.logOnly ?? false;
  const mounts = spec.Mounts.filter((m) => m.Type === 'volume' && wanted.includes(m.Target)).map((m) =>
    readOnly ? { ...m, ReadOnly: true } : m,
  );
  const name = `${mailName}-job-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
  try {
    await docker.createService({
      Name: name,
      // Not the class's label: a job is no workload of the class. Its mail service's removal removes it.
      Labels: { [JOB_LABEL]: mailName },
      TaskTemplate: {
        ContainerSpec: {
          Image: spec.Image,
          Env: spec.Env,
          Mounts: mounts,
          Command: ['bash', '-c', JOB_PREAMBLE, 'labctl-job', ...cmd],
          // Its command is PID 1, which ignores SIGTERM (tail -F): no need to wait the default 10 s to stop it.
          StopGracePeriod: 1e9,
        },
        RestartPolicy: { Condition: 'none' },
        Placement: { Constraints: mail.Spec.TaskTemplate.Placement.Constraints },
        LogDriver: { Name: 'json-file', Options: {} },
      },
      // One task, never restarted. Not a replicated-job: Docker 20.10 leaves a removed job's containers behind
      // (even running ones), whereas removing a replicated service stops and removes its task.
      Mode: { Replicated: { Replicas: 1 } },
    } as unknown as Docker.CreateServiceOptions);
  } catch (error) {
    throw failed(`start a job for ${mailName}`, error);
  }
  return name;
}

/** Removes a job and waits until its task has let go of the student's volumes. */
export async function removeJob(docker: Docker, name: string): Promise<void> {
  await removeService(docker, name).catch(() => {});
}

/** Runs `cmd` as a job in student `mailName`'s environment and waits for it; its output comes from the manager. */
export async function runJob(
  docker: Docker,
  mailName: string,
  cmd: string[],
  options: JobOptions = {},
): Promise<ExecResult> {
  const name = await startJob(docker, mailName, cmd, options);
  return awaitJob(docker, name, mailName);
}

/**
 * Waits for one-off service `name` (a job, for `what`) to finish, reads its output, then removes it. Ctrl-C
 * (`signal`) stops the wait: the job is removed all the same, and the call rejects with the signal's reason.
 */
export async function awaitJob(
  docker: Docker,
  name: string,
  what: string,
  timeoutMs = 120_000,
  signal?: AbortSignal,
): Promise<ExecResult> {
  try {
    let task: SwarmTask | undefined;
    const finished = await until(
      async () => {
        task = newest(await serviceTasks(docker, name));
        return task !== undefined && FINISHED.includes(task.Status.State);
      },
      { timeoutMs, intervalMs: 200, ...(signal && { signal }) },
    );
    if (!finished || !task)
      throw new LabctlError(ExitCode.engine, `Job ${name} did not finish in ${Math.round(timeoutMs / 1000)} s.`);
    if (task.Status.State === 'rejected' || !task.Status.ContainerStatus?.ContainerID) {
      throw new LabctlError(
        ExitCode.engine,
        `Job ${name} for ${what} could not run: ${task.Status.Err ?? task.Status.State}.`,
      );
    }
    const exitCode = task.Status.ContainerStatus.ExitCode ?? (task.Status.State === 'complete' ? 0 : -1);
    return { exitCode, ...demux(await serviceLogs(docker, name)) };
  } finally {
    await removeJob(docker, name);
  }
}

/** A service's output, gathered by the manager from whichever node runs it. */
export async function serviceLogs(docker: Docker, name: string, tail?: number): Promise<Buffer> {
  const out = (await docker
    .getService(name)
    .logs({ stdout: true, stderr: true, follow: false, ...(tail !== undefined && { tail }) })) as unknown as
    Buffer | NodeJS.ReadableStream;
  return readAll(out);
}
