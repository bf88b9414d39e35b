/** What labctl tells a sidecar, through its environment. */
export interface SidecarCard {
  className: string;
  student: number;
  host: string;
  domain: string;
  ports: Record<string, number>;
  pair: [string, string];
  password: string;
  /** The password of each account of the pair. */
  passwords?: Record<string, string>;
  accounts: number;
}

export interface SidecarConfig {
  card: SidecarCard;
  labName: string;
  labTitle: string;
  exercises: { id: string; title: string }[];
  /** labctl's key for this sidecar (Bearer): progress and reset. Not the class token, which stays on the host. */
  adminKey: string;
  studentKey: string;
  /** The trusted verification log, written by rsyslog for the mail daemons only. */
  verifyLog: string;
  /** The message archive: a Maildir Postfix's virtual(8) fills with an always_bcc copy of every message. */
  archiveDir: string;
  /** The uids whose lines of the verification log are believed (root and postfix by default). */
  trustedUids: number[];
  stateFile: string;
  port: number;
  pollMs: number;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`${name} is not set; the sidecar is started by labctl up`);
  return value;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): SidecarConfig {
  const lab = JSON.parse(required(env, 'LABCTL_LAB')) as Pick<SidecarConfig, 'labName' | 'labTitle' | 'exercises'>;
  return {
    card: JSON.parse(required(env, 'LABCTL_CARD')) as SidecarCard,
    labName: lab.labName,
    labTitle: lab.labTitle,
    exercises: lab.exercises,
    adminKey: required(env, 'LABCTL_ADMIN_KEY'),
    studentKey: required(env, 'LABCTL_STUDENT_KEY'),
    verifyLog: env.LABCTL_VERIFY_LOG ?? '/evidence/log/verify.log',
    archiveDir: env.LABCTL_ARCHIVE_DIR ?? '/evidence/archive',
    trustedUids: (env.LABCTL_TRUSTED_UIDS ?? '0,101')
      .split(',')
      .filter((uid) => /^\s*\d+\s*$/.test(uid))
      .map(Number),
    stateFile: env.LABCTL_STATE_FILE ?? '/state/progress.json',
    port: Number(env.LABCTL_PORT ?? 8080),
    pollMs: Number(env.LABCTL_POLL_MS ?? 500),
  };
}
