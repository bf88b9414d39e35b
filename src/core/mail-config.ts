import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import type { Lab } from './lab.js';
import { ARCHIVE, MAIL_SERVICE_LIMITS } from './limits.js';
import { render, renderText } from './render.js';
import { usesTls } from './services.js';
import { classCa, serverCertificate } from './tls.js';

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
  token = IMAGE_TOKEN,
): Promise<PlannedFile[]> {
  const disk = diskLimits(lab.disk);
  const tls = usesTls(lab);
  const values = {
    className,
    student,
    hostname: `mail.${domain}`,
    domain,
    ports: lab.services,
    services: lab.protocols,
    /** Where the server's certificate, its key and the class's CA are, when the lab speaks TLS. */
    tls: tls ? TLS_FILES : undefined,
    outsideTransport: 'error:5.7.1 labctl: mail to other domains stays in the lab (envoi hors du lab bloque)',
    limits: MAIL_SERVICE_LIMITS,
    disk,
    archive: ARCHIVE,
    accounts: lab.accounts,
  };
  const files: PlannedFile[] = [
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
    {
      // Read by the entrypoint, which says what answers where.
      path: 'etc/labctl/services',
      content: Object.entries(lab.services)
        .map(([name, port]) => `${name} ${lab.protocols[name]?.protocol} ${lab.protocols[name]?.tls} ${port}\n`)
        .join(''),
      mode: 0o644,
    },
    ...(tls ? tlsFiles(token, className, `mail.${domain}`) : []),
  ];
  return withLabFiles(files, lab, values);
}

/** Signs nothing a student uses: the image's own default configuration, which each server's replaces. */
const IMAGE_TOKEN = 'labctl-image-default';

const TLS_DIR = 'etc/labctl/tls';
/** The server's TLS files: its certificate and key (and both in one, as Courier wants them), and the class's CA. */
export const TLS_FILES = {
  ca: `/${TLS_DIR}/ca.pem`,
  cert: `/${TLS_DIR}/server.pem`,
  key: `/${TLS_DIR}/server.key`,
  keyAndCert: `/${TLS_DIR}/server-key-cert.pem`,
};

function tlsFiles(token: string, className: string, hostname: string): PlannedFile[] {
  const ca = classCa(token, className);
  const server = serverCertificate(token, className, hostname);
  return [
    { path: `${TLS_DIR}/ca.pem`, content: ca.cert, mode: 0o644 },
    { path: `${TLS_DIR}/server.pem`, content: server.cert, mode: 0o644 },
    { path: `${TLS_DIR}/server.key`, content: server.key, mode: 0o600 },
    { path: `${TLS_DIR}/server-key-cert.pem`, content: server.key + server.cert, mode: 0o600 },
  ];
}

/** The lab's own server files (its folder's server/): each replaces the base's file, or (`+`) is added to its end. */
function withLabFiles(files: PlannedFile[], lab: Lab, values: Record<string, unknown>): PlannedFile[] {
  const out = [...files];
  for (const t of lab.server ?? []) {
    const content = renderText(`${lab.name}/server/${t.path}`, t.template, values);
    const i = out.findIndex((f) => f.path === t.path);
    if (i >= 0 && t.append) out[i] = { ...out[i]!, content: `${out[i]!.content.replace(/\n?$/, '\n')}${content}` };
    else if (i >= 0) out[i] = { path: t.path, content, mode: t.mode };
    else out.push({ path: t.path, content, mode: t.mode });
  }
  return out;
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
