import type { EvidenceSpec, ExerciseSpec } from '../core/lab-rules/spec.js';
import { CardSchema, describeIssue, SidecarLabSchema, type Card } from '../core/wire.js';

/** What labctl tells a sidecar, through its environment (src/core/wire.ts). */
export type SidecarCard = Card;

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
  /** What listens on the server's ports, as its entrypoint reads its kernel (sidecar/listeners.ts). */
  listenersFile: string;
  /** The uids whose lines of the verification log are believed (root and postfix by default). */
  trustedUids: number[];
  stateFile: string;
  port: number;
  /** How often it polls the evidence while it cannot watch it (inotify): fast enough for credits within a second. */
  pollMs: number;
  /** How often it polls anyway while it watches the evidence (a change wakes it): for what a watch could miss. */
  idlePollMs: number;
  /** The terminal in the page (src/sidecar/terminal.ts); none when unset (unit tests). */
  terminal?: TerminalConfig;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`${name} is not set; the sidecar is started by labctl up`);
  return value;
}

/** A JSON variable, read with its schema: a sidecar never starts on a card or lab it misreads. */
function fromEnv<T>(
  env: NodeJS.ProcessEnv,
  name: string,
  schema: {
    safeParse(v: unknown): { success: true; data: T } | { success: false; error: Parameters<typeof describeIssue>[0] };
  },
): T {
  let json: unknown;
  try {
    json = JSON.parse(required(env, name));
  } catch {
    throw new Error(`${name} is not JSON; the sidecar is started by labctl up`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new Error(`${name}: ${describeIssue(parsed.error)}`);
  return parsed.data;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): SidecarConfig {
  const lab = fromEnv(env, 'LABCTL_LAB', SidecarLabSchema);
  const card = fromEnv(env, 'LABCTL_CARD', CardSchema);
  return {
    card,
    labName: lab.labName,
    labTitle: lab.labTitle,
    // Their shape in depth is compileRules' to check (the sidecar compiles them when it starts).
    exercises: lab.exercises as unknown as ExerciseSpec[],
    evidence: lab.evidence as unknown as EvidenceSpec,
    adminKey: required(env, 'LABCTL_ADMIN_KEY'),
    studentKey: required(env, 'LABCTL_STUDENT_KEY'),
    verifyLog: env.LABCTL_VERIFY_LOG ?? '/evidence/log/verify.log',
    archiveDir: env.LABCTL_ARCHIVE_DIR ?? '/evidence/archive',
    listenersFile: env.LABCTL_LISTENERS_FILE ?? '/evidence/listening',
    trustedUids: (env.LABCTL_TRUSTED_UIDS ?? '0,101')
      .split(',')
      .filter((uid) => /^\s*\d+\s*$/.test(uid))
      .map(Number),
    stateFile: env.LABCTL_STATE_FILE ?? '/state/progress.json',
    port: Number(env.LABCTL_PORT ?? 8080),
    pollMs: Number(env.LABCTL_POLL_MS ?? 500),
    idlePollMs: Number(env.LABCTL_IDLE_POLL_MS ?? 5000),
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
    // The mail workload's name, which the plan puts on the card and Docker's DNS resolves on the student's network.
    host: env.LABCTL_SSH_HOST ?? card.sshHost ?? 'localhost',
    port: positive('LABCTL_SSH_PORT', 22),
    user,
    password: card.passwords?.[user] ?? card.password,
    maxSessions: positive('LABCTL_TERMINAL_SESSIONS', 3),
    idleMs: positive('LABCTL_TERMINAL_IDLE_S', 30 * 60) * 1000,
    maxMs: positive('LABCTL_TERMINAL_MAX_S', 4 * 3600) * 1000,
  };
}
