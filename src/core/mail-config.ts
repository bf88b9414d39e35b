import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import type { Lab } from './lab.js';
import { ARCHIVE, MAIL_SERVICE_LIMITS } from './limits.js';
import { render } from './render.js';

/**
 * A student's mail server's configuration: the files rendered from templates/ for their server, and how they travel
 * in the workload's spec.
 */

export interface PlannedFile {
  path: string;
  content: string;
  mode: number;
}

/** The mail server's configuration files for one student, rendered from templates/. */
export async function renderMailConfig(
  lab: Lab,
  className: string,
  student: number,
  domain: string,
): Promise<PlannedFile[]> {
  const disk = diskLimits(lab.disk);
  const values = {
    className,
    student,
    hostname: `mail.${domain}`,
    domain,
    ports: lab.services,
    outsideTransport: 'error:5.7.1 labctl: mail to other domains stays in the lab (envoi hors du lab bloque)',
    limits: MAIL_SERVICE_LIMITS,
    disk,
    archive: ARCHIVE,
    accounts: lab.accounts,
  };
  return [
    { path: 'etc/postfix/main.cf', content: await render('postfix/main.cf.ejs', values), mode: 0o644 },
    { path: 'etc/postfix/master.cf', content: await render('postfix/master.cf.ejs', values), mode: 0o644 },
    { path: 'etc/mailname', content: `${domain}\n`, mode: 0o644 },
    { path: 'etc/courier/authdaemonrc', content: await render('courier/authdaemonrc.ejs', values), mode: 0o660 },
    { path: 'etc/courier/imapd', content: await render('courier/imapd.ejs', values), mode: 0o644 },
    { path: 'etc/courier/pop3d', content: await render('courier/pop3d.ejs', values), mode: 0o644 },
    { path: 'etc/rsyslog.conf', content: await render('rsyslog/rsyslog.conf.ejs', values), mode: 0o644 },
    { path: 'etc/ssh/sshd_config.d/labctl.conf', content: await render('ssh/sshd_config.ejs', values), mode: 0o644 },
    { path: 'etc/security/limits.d/labctl.conf', content: await render('ssh/limits.conf.ejs', values), mode: 0o644 },
    {
      // Read by the entrypoint's archive pruning.
      path: 'etc/labctl/limits',
      content: `ARCHIVE_MAX_KIB=${Math.floor(disk.archiveBytes / 1024)}\nARCHIVE_MAX_AGE_MIN=${disk.archiveAgeMinutes}\n`,
      mode: 0o644,
    },
    {
      path: 'etc/labctl/uids',
      content: lab.accounts.map((a, i) => `${a.user} ${studentUid(student, i)}\n`).join(''),
      mode: 0o644,
    },
  ];
}

/**
 * How a student's disk is shared out, so that each writer's own bound leaves room for the others: the message
 * archive takes at most a quarter, and each log is rotated at a 64th (two files each). The logs are written by
 * root (rsyslog), which the disk's 10% reserve keeps writing when the student has filled the rest.
 */
export function diskLimits(bytes: number) {
  const log = Math.max(1024 * 1024, Math.floor(bytes / 64));
  return {
    bytes,
    archiveBytes: Math.floor(bytes / 4),
    archiveAgeMinutes: 24 * 60,
    /** mail.log and the verification log; syslog and auth.log get a quarter of it. */
    logBytes: log,
    smallLogBytes: Math.max(256 * 1024, Math.floor(log / 4)),
  };
}

/**
 * The uid of account i (from 0) on student n's server: unique on the host, so that per-uid kernel limits
 * (the process count of pam_limits' nproc) of one student never count against another's.
 */
export function studentUid(student: number, index: number): number {
  return 100_000 + student * 1000 + index + 1;
}

/** The files as LABCTL_SERVER_CONFIG: a tar (owned by root, with their modes, a fixed time), gzipped, in base64. */
export async function configEnv(files: PlannedFile[]): Promise<string> {
  const pack = tar.pack();
  for (const f of files) pack.entry({ name: f.path, mode: f.mode, uid: 0, gid: 0, mtime: new Date(0) }, f.content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return `LABCTL_SERVER_CONFIG=${gzipSync(Buffer.concat(chunks), { level: 9 }).toString('base64')}`;
}
