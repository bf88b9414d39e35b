import type { ServiceInfo } from '../core/services.js';
import type { EvidenceSpec, ExerciseSpec } from '../core/lab-rules/spec.js';

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
  /** Every account of the lab on the student's server: only these names are quoted back in hints. */
  users?: string[];
  /** The services of the lab, in its order, as the page lists them. */
  services?: ({ name: string } & ServiceInfo)[];
  /** The class's certificate authority (PEM), when the lab speaks TLS: the page offers it as /ca.pem. */
  ca?: string;
}

export interface SidecarConfig {
  card: SidecarCard;
  labName: string;
  labTitle: string;
  /** The lab's exercises, in order, with the rules that credit them and their hints. */
  exercises: ExerciseSpec[];
  /** What the rules read: the lab's line patterns, and how a message is made. */
  evidence: EvidenceSpec;
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
  /** The terminal in the page (src/sidecar/terminal.ts); none when unset (unit tests). */
  terminal?: TerminalConfig;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`${name} is not set; the sidecar is started by labctl up`);
  return value;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): SidecarConfig {
  const lab = JSON.parse(required(env, 'LABCTL_LAB')) as Pick<
    SidecarConfig,
    'labName' | 'labTitle' | 'exercises' | 'evidence'
  >;
  const card = JSON.parse(required(env, 'LABCTL_CARD')) as SidecarCard;
  return {
    card,
    labName: lab.labName,
    labTitle: lab.labTitle,
    exercises: lab.exercises,
    evidence: lab.evidence,
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
    terminal: terminalConfig(card, env),
  };
}

// --- The terminal in the page ---

/** Where the page's terminal logs in: the student's own server, as their first account (src/sidecar/terminal.ts). */
export interface TerminalConfig {
  /** The student's mail server on their own network (its container name) and its sshd's container port. */
  host: string;
  port: number;
  user: string;
  password: string;
  /** Sessions open at once for this student; one more is refused with a message. */
  maxSessions: number;
  /** A session with no keystroke for this long is closed. */
  idleMs: number;
  /** No session lasts longer than this. */
  maxMs: number;
}

/**
 * The defaults: 3 sessions, 30 minutes idle, 4 hours in all (a TD lasts 2 to 3 hours). No terminal for a card
 * without accounts.
 */
export function terminalConfig(card: SidecarCard, env: NodeJS.ProcessEnv = {}): TerminalConfig | undefined {
  const user = card.pair?.[0];
  if (!user) return undefined;
  const positive = (name: string, fallback: number) => {
    const n = Number(env[name]);
    return Number.isFinite(n) && n > 0 ? n : fallback;
  };
  return {
    // The mail container's name (resourceName in src/core/plan.ts), which Docker's DNS resolves on the student's network.
    host: env.LABCTL_SSH_HOST ?? `labctl-${card.className}-s${String(card.student).padStart(2, '0')}-mail`,
    port: positive('LABCTL_SSH_PORT', 22),
    user,
    password: card.passwords?.[user] ?? card.password,
    maxSessions: positive('LABCTL_TERMINAL_SESSIONS', 3),
    idleMs: positive('LABCTL_TERMINAL_IDLE_S', 30 * 60) * 1000,
    maxMs: positive('LABCTL_TERMINAL_MAX_S', 4 * 3600) * 1000,
  };
}
