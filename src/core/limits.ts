/**
 * What one student may use, so that one student cannot take the class down. A TD never comes near
 * these; a fork bomb, a `dd` or a mail loop does. Chosen from measurements (see the README's
 * "Security model"): an idle mail server uses about 12 MiB and 20 processes, an idle sidecar 18 MiB.
 */
export const MAIL_LIMITS = {
  pids: 512,
  memoryBytes: 512 * 1024 * 1024,
  /** In CPUs: one student can never take more than one core. */
  cpus: 1,
  log: { maxSize: '1m', maxFiles: 3 },
};

export const SIDECAR_LIMITS = {
  pids: 64,
  memoryBytes: 128 * 1024 * 1024,
  cpus: 0.5,
  log: { maxSize: '1m', maxFiles: 3 },
};

/** Rendered into Postfix's main.cf and pam_limits. */
export const MAIL_SERVICE_LIMITS = {
  /** Postfix's message_size_limit: a 12 MB phone photo in base64 fits. */
  messageSize: 20 * 1024 * 1024,
  /** One mbox file (the spool or ~/mbox). */
  mailboxSize: 50 * 1024 * 1024,
  messagesPerMinute: 30,
  recipientsPerMinute: 60,
  connectionsPerMinute: 60,
  /**
   * Postfix refuses mail when the student's disk (queue, mailboxes, logs, archive) has less free than this: twice
   * the largest message (Postfix wants at least 1.5 times), well under the smallest disk a lab may give.
   */
  queueMinFree: 2 * 20 * 1024 * 1024,
  /** The largest file a student's ssh session may write. */
  fileSizeMiB: 64,
  /** Processes of one account (pam_limits nproc): a fork bomb stops there, and the server keeps answering. */
  processes: 64,
  /**
   * What one client address may hold at once, so that a classmate's idle sockets never lock the student out (each
   * server sees its clients' own addresses: see the README, "Port proxies"). A mail client opens up to 5 IMAP
   * connections per account, and a student has two accounts.
   */
  perSource: {
    /** Courier's MAXPERIP, IMAP and POP3 each, out of MAXDAEMONS. */
    courier: 10,
    courierTotal: 40,
    /** Postfix's smtpd_client_connection_count_limit (of 100 smtpd processes). */
    smtp: 10,
    /** sshd's PerSourceMaxStartups: connections not logged in yet, out of MaxStartups' 10 (then dropped at random). */
    sshStartups: 4,
  },
  /** sshd's LoginGraceTime, in seconds: long enough to type a password, short enough that idle sockets go. */
  sshLoginGraceSeconds: 30,
};

/** The sidecar's HTTP server: the page, its live stream and its terminal need a handful of connections. */
export const SIDECAR_HTTP_LIMITS = {
  perSource: 16,
  total: 128,
  /** From the connection to the end of a request's headers, then of the whole request (not of its answer). */
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  /** How often Node looks for requests past those timeouts. */
  checkIntervalMs: 2_000,
};

/** The address Postfix copies every message to (always_bcc), delivered into the evidence archive. */
export const ARCHIVE = { domain: 'archive.labctl.invalid', address: 'archive@archive.labctl.invalid' };

/** The uid and gid the sidecar runs as; they own the evidence in the mail container. */
export const EVIDENCE_UID = 990;

/**
 * How many students labctl works on at once: LABCTL_CONCURRENCY when set to a whole number, else `fallback` (the
 * engine's own parallelism for changes, BOARD_CONCURRENCY for the sidecars' answers).
 */
export function concurrency(fallback: number): number {
  const n = Number(process.env.LABCTL_CONCURRENCY ?? fallback);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}
/** Sidecars asked at once for the board: each answer is a small HTTP request, so many at once cost little. */
export const BOARD_CONCURRENCY = 16;
/**
 * Greetings `status` waits for at once. Each costs its server a process (sshd forks and execs one per connection):
 * hundreds at once on a big class made servers miss the probe's timeout, and showed them DOWN while they were up.
 */
export const PROBE_CONCURRENCY = 32;
