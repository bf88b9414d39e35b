import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { ExitCode, LabctlError } from '../../errors.js';
import type { WorkloadInfo, LogStream, Maintenance, MaintenanceResult } from '../engine.js';
import { failed } from '../errors.js';
import {
  ACCOUNTS_COMMAND,
  MAIL_LOG,
  SESSION_DIR,
  collectCommand,
  resetCommand,
  sessionCommand,
} from '../maintenance-commands.js';
import { demux, streamEnded } from '../streams.js';
import { removeJob, runJob, serviceLogs, startJob } from './jobs.js';

const BACKUP_MARK = '--- labctl backup (tar, base64) ---';

/** A maintenance action, run as a job on the student's node (see jobs.ts). */
export async function maintenance(docker: Docker, mail: WorkloadInfo, task: Maintenance): Promise<MaintenanceResult> {
  if (task.action === 'accounts') return runJob(docker, mail.name, ACCOUNTS_COMMAND);
  if (task.action === 'session') return runJob(docker, mail.name, sessionCommand(task), { targets: [SESSION_DIR] });
  const reset = task.action === 'reset' ? resetCommand(task) : collectCommand(task);
  if (task.action === 'reset' && !task.backup) return runJob(docker, mail.name, reset);
  // The reset's output, then after a marker line its backup (even from a reset that failed halfway) as a tar, with
  // DIR/backup at its root as the local engine's, in base64. The job's container goes when the job is removed.
  const script = [
    'out=$("$@")',
    'status=$?',
    'printf "%s\\n" "$out"',
    'dir=$(printf "%s\\n" "$out" | sed -n "1s/^backup //p")',
    `[ -z "$dir" ] || { echo '${BACKUP_MARK}'; tar -C "$dir" -cf - backup | base64 -w 76; }`,
    'exit $status',
  ].join('; ');
  const run: MaintenanceResult = await runJob(docker, mail.name, ['bash', '-c', script, 'labctl-reset', ...reset]);
  const at = run.stdout.indexOf(`${BACKUP_MARK}\n`);
  if (at >= 0) {
    run.backup = Buffer.from(run.stdout.slice(at + BACKUP_MARK.length + 1).replace(/\s+/g, ''), 'base64');
    run.stdout = run.stdout.slice(0, at);
  }
  return run;
}

/** The student's mail log, read by a job on their node (tail -F while following), through the manager. */
export async function streamLog(
  docker: Docker,
  mail: WorkloadInfo,
  { follow, onChunk, signal }: LogStream,
): Promise<void> {
  if (!follow) {
    const run = await runJob(docker, mail.name, ['cat', MAIL_LOG], { logOnly: true });
    if (run.exitCode !== 0) throw new LabctlError(ExitCode.engine, `Cannot read ${MAIL_LOG}: ${run.stderr.trim()}`);
    onChunk(run.stdout);
    return;
  }
  const name = await startJob(docker, mail.name, ['tail', '-n', '+1', '-F', MAIL_LOG], { logOnly: true });
  try {
    const stream = await docker
      .getService(name)
      .logs({ stdout: true, stderr: false, follow: true, tail: 'all' as unknown as number });
    const out = new PassThrough();
    out.setEncoding('utf8');
    out.on('data', onChunk);
    docker.modem.demuxStream(stream, out, new PassThrough());
    await streamEnded(stream as NodeJS.ReadableStream & { destroy(): void }, signal);
  } catch (error) {
    throw failed(`follow the log of ${mail.name}`, error);
  } finally {
    await removeJob(docker, name);
  }
}

/** The service's output, gathered by the manager from whichever node runs it. */
export async function logs(docker: Docker, name: string, tail: number): Promise<string> {
  try {
    const { stdout, stderr } = demux(await serviceLogs(docker, name, tail));
    return stdout + stderr;
  } catch (error) {
    throw failed(`read the logs of ${name}`, error);
  }
}
