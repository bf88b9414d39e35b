/**
 * What one log line says, once parsed. Every event keeps its ISO time and the raw line. Lines of the trusted
 * verification log also keep the sender's uid and pid as the kernel reported them to rsyslog (the evidence
 * that a daemon, not a student, wrote the line).
 */
interface EventBase {
  time: string;
  raw: string;
  uid?: number;
  pid?: number;
}

export type MailService = 'imap' | 'pop3';

/** A Postfix `key=N` tally, e.g. the SMTP commands of a session or the bytes of a Courier logout. */
export type Counts = Record<string, number>;

export interface SmtpConnect extends EventBase {
  type: 'smtp-connect';
  client: string;
  ip: string;
}

export interface SmtpDisconnect extends EventBase {
  type: 'smtp-disconnect';
  client: string;
  ip: string;
  counts: Counts;
}

/** smtpd gave this queue id to a message it received: the message came in over SMTP. */
export interface SmtpClient extends EventBase {
  type: 'smtp-client';
  queueId: string;
  client: string;
  ip: string;
}

export interface MessageIdEvent extends EventBase {
  type: 'message-id';
  queueId: string;
  /** Empty when the message has none (`message-id=<>`). */
  messageId: string;
}

export interface Queued extends EventBase {
  type: 'queued';
  queueId: string;
  /** Envelope sender, empty for a bounce (`from=<>`). */
  from: string;
  size: number;
  nrcpt: number;
}

export interface Delivery extends EventBase {
  type: 'delivery';
  queueId: string;
  /** The Postfix program that delivered: local, error, smtp, virtual... */
  transport: string;
  to: string;
  origTo?: string;
  relay: string;
  dsn?: string;
  status: string;
  detail: string;
}

export interface Reject extends EventBase {
  type: 'reject';
  /** Undefined for NOQUEUE. */
  queueId?: string;
  /** The SMTP stage: RCPT, MAIL, DATA, END-OF-MESSAGE... */
  stage: string;
  client: string;
  ip: string;
  code: number;
  reason: string;
  from?: string;
  to?: string;
  helo?: string;
  /** For a refused RCPT: the address named both in Postfix's reason text and in its to= field. */
  recipient?: string;
}

export interface Login extends EventBase {
  type: 'login';
  service: MailService;
  user: string;
  ip?: string;
}

export interface LoginFailed extends EventBase {
  type: 'login-failed';
  service: MailService;
  user?: string;
  ip?: string;
}

export interface Logout extends EventBase {
  type: 'logout';
  service: MailService;
  /** Undefined when the session never logged in, e.g. a port probe. */
  user?: string;
  ip?: string;
  counts: Counts;
}

export type LogEvent =
  | SmtpConnect
  | SmtpDisconnect
  | SmtpClient
  | MessageIdEvent
  | Queued
  | Delivery
  | Reject
  | Login
  | LoginFailed
  | Logout;
