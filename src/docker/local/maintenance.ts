import type Docker from 'dockerode';
import type { WorkloadInfo, LogStream, Maintenance, MaintenanceResult } from '../engine.js';
import {
  ACCOUNTS_COMMAND,
  MAIL_LOG,
  backupDir,
  collectCommand,
  resetCommand,
  sessionCommand,
} from '../maintenance-commands.js';
import { archive, exec, execStream } from './exec.js';

/** A maintenance action, run in the student's mail container; a backup (a reset's, a collect's) is copied out, then deleted there. */
export async function maintenance(docker: Docker, mail: WorkloadInfo, task: Maintenance): Promise<MaintenanceResult> {
  if (task.action === 'accounts') return exec(docker, mail.name, ACCOUNTS_COMMAND);
  if (task.action === 'session') return exec(docker, mail.name, sessionCommand(task));
  const command = task.action === 'reset' ? resetCommand(task) : collectCommand(task);
  const run: MaintenanceResult = await exec(docker, mail.name, command);
  const dir = task.action === 'collect' || task.backup ? backupDir(run.stdout) : undefined;
  if (dir) {
    try {
      run.backup = await archive(docker, mail.name, `${dir}/backup`);
    } finally {
      await exec(docker, mail.name, ['rm', '-rf', '--', dir]);
    }
  }
  return run;
}

/** The student's mail log, read in their mail container. */
export async function streamLog(
  docker: Docker,
  mail: WorkloadInfo,
  { follow, onChunk, signal }: LogStream,
): Promise<void> {
  if (!follow) {
    await execStream(docker, mail.name, ['cat', MAIL_LOG], onChunk, signal);
    return;
  }
  // tail lives as long as the exec's stdin, which nothing writes: when the stream is aborted (or labctl dies), the
  // engine closes that stdin, `cat` ends, and the shell stops its own tail. No pid passes through a file.
  await execStream(
    docker,
    mail.name,
    ['sh', '-c', `tail -n +1 -F ${MAIL_LOG} & cat >/dev/null; kill $!; wait $!`],
    onChunk,
    signal,
    true,
  );
}
