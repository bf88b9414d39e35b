import { parseStamp, systemClock, type Clock } from '../core/log-time.js';
import { ADDRESS_PATTERN } from './address.js';
import type { Counts, LogEvent, MailService } from './events.js';

// "<host> <program>[<pid>]: <message>", the pid being optional (Courier logs without one).
const SOURCE = /^\S+ ([^\s:[\]]+)(?:\[\d+\])?: (.*)$/;
/**
 * A line of the trusted verification log, as rsyslog's template writes it and nothing else:
 * "<RFC 3339 reception time> uid=<uid> pid=<pid> <hostname> <syslogtag><message>".
 */
const VERIFY =
  /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})) uid=(\d{1,10}) pid=(\d{1,10}) (\S+ [^\s:[\]]+(?:\[\d+\])?: .*)$/;
const QUEUE_ID = '([0-9A-Za-z]+)';
const CLIENT = '([^\\s[]*)\\[([^\\]]*)\\]';
// An address as Postfix logs it, in the one grammar the rules read it with (address.ts).
const ADDRESS = `(${ADDRESS_PATTERN})`;
const CONNECT = new RegExp(`^connect from ${CLIENT}$`);
const DISCONNECT = new RegExp(`^disconnect from ${CLIENT}(.*)$`);
const SMTP_CLIENT = new RegExp(`^${QUEUE_ID}: client=${CLIENT}`);
const REJECT = new RegExp(`^${QUEUE_ID}: reject: (\\S+) from ${CLIENT}: (\\d{3}) (.*)$`);
const MESSAGE_ID = new RegExp(`^${QUEUE_ID}: message-id=<([^>]*)>`);
const QUEUED = new RegExp(`^${QUEUE_ID}: from=<${ADDRESS}>, size=(\\d+), nrcpt=(\\d+)`);
const DELIVERY = new RegExp(
  `^${QUEUE_ID}: to=<${ADDRESS}>, (?:orig_to=<${ADDRESS}>, )?(relay=.*?)status=(\\w+)(?: \\((.*)\\))?$`,
);

type Base = { time: string; raw: string; uid?: number; pid?: number };

export type { Clock };

/** The uids whose lines are believed by default: root (local(8), courierlogger) and postfix. */
export const TRUSTED_UIDS: ReadonlySet<number> = new Set([0, 101]);

/**
 * Parses one line of rsyslog's mail.log, traditional or RFC 3339 timestamps. Traditional lines carry no
 * year or zone: they are read as UTC, in the year of `now()` unless that would put them more than a day in
 * the future, in which case they are last year's (a "Dec 31" line read on 2 January). Unknown or garbled
 * lines give undefined. This is for tooling (labctl logs): the sidecar believes only parseVerifyLine.
 */
export function parseLogLine(line: string, now: Clock = systemClock): LogEvent | undefined {
  try {
    const raw = line.replace(/[\r\n]+$/, '');
    const stamped = parseStamp(raw, now);
    if (!stamped) return undefined;
    return parseSource(stamped.rest, { time: stamped.time, raw });
  } catch {
    return undefined;
  }
}

/**
 * Parses one line of the trusted verification log (see VERIFY). A line of any other shape, a mail.log line
 * included, gives undefined, and so does a line whose kernel-reported uid is not in `trustedUids`. The uid
 * and pid are kept on the event; the pid in the tag is what the sender claimed and is not believed.
 */
export function parseVerifyLine(line: string, trustedUids: ReadonlySet<number> = TRUSTED_UIDS): LogEvent | undefined {
  try {
    const v = readVerifyLine(line, trustedUids);
    return v && parseSource(v.source, { time: v.time, raw: v.raw, uid: v.uid, pid: v.pid });
  } catch {
    return undefined;
  }
}

/** A line of the verification log from a trusted sender: when rsyslog received it, who sent it, and what it says. */
export interface VerifyLine {
  time: string;
  raw: string;
  uid: number;
  pid: number;
  /** "<hostname> <syslogtag><message>", as the sender wrote it. */
  source: string;
  host: string;
  /** The tag's program (postfix/smtpd, pop3d); the pid in the tag is what the sender claimed. */
  program: string;
  message: string;
}

/** Reads a line of the trusted verification log (see VERIFY); undefined for any other shape or an untrusted uid. */
export function readVerifyLine(line: string, trustedUids: ReadonlySet<number> = TRUSTED_UIDS): VerifyLine | undefined {
  const raw = line.replace(/\r?\n$/, '');
  const m = VERIFY.exec(raw);
  if (!m) return undefined;
  const uid = Number(m[2]);
  const pid = Number(m[3]);
  if (!trustedUids.has(uid)) return undefined;
  const date = new Date(m[1] ?? '');
  if (Number.isNaN(date.getTime())) return undefined;
  const source = m[4] ?? '';
  const s = /^(\S+) ([^\s:[\]]+)(?:\[\d+\])?: (.*)$/.exec(source);
  if (!s) return undefined;
  return { time: date.toISOString(), raw, uid, pid, source, host: s[1]!, program: s[2]!, message: s[3]! };
}

function parseSource(rest: string, base: Base): LogEvent | undefined {
  const source = SOURCE.exec(rest);
  if (!source) return undefined;
  const program = source[1] ?? '';
  const message = source[2] ?? '';
  if (program.startsWith('postfix')) return parsePostfix(program.slice(program.lastIndexOf('/') + 1), message, base);
  const service = courierService(program);
  return service ? parseCourier(service, message, base) : undefined;
}

/** Parses a whole log, skipping the lines it does not know. */
export function parseLog(text: string, now?: Clock): LogEvent[] {
  const events: LogEvent[] = [];
  for (const line of text.split(/\r?\n/)) {
    const event = parseLogLine(line, now);
    if (event) events.push(event);
  }
  return events;
}

/** Parses a whole verification log, skipping the lines it does not know or does not believe. */
export function parseVerifyLog(text: string, trustedUids?: ReadonlySet<number>): LogEvent[] {
  const events: LogEvent[] = [];
  for (const line of text.split(/\r?\n/)) {
    const event = parseVerifyLine(line, trustedUids);
    if (event) events.push(event);
  }
  return events;
}

function parsePostfix(daemon: string, message: string, base: Base): LogEvent | undefined {
  let m: RegExpExecArray | null;
  if ((m = CONNECT.exec(message))) {
    return { ...base, type: 'smtp-connect', client: m[1] ?? '', ip: m[2] ?? '' };
  }
  if ((m = DISCONNECT.exec(message))) {
    return { ...base, type: 'smtp-disconnect', client: m[1] ?? '', ip: m[2] ?? '', counts: counts(m[3] ?? '') };
  }
  if ((m = SMTP_CLIENT.exec(message))) {
    return { ...base, type: 'smtp-client', queueId: m[1] ?? '', client: m[2] ?? '', ip: m[3] ?? '' };
  }
  if ((m = REJECT.exec(message))) {
    return parseReject(m, base);
  }
  if (daemon === 'cleanup' && (m = MESSAGE_ID.exec(message))) {
    return { ...base, type: 'message-id', queueId: m[1] ?? '', messageId: m[2] ?? '' };
  }
  if ((m = QUEUED.exec(message))) {
    return { ...base, type: 'queued', queueId: m[1] ?? '', from: m[2] ?? '', size: Number(m[3]), nrcpt: Number(m[4]) };
  }
  if ((m = DELIVERY.exec(message))) {
    const fields = keyValues(m[4] ?? '');
    return {
      ...base,
      type: 'delivery',
      queueId: m[1] ?? '',
      transport: daemon,
      to: m[2] ?? '',
      ...(m[3] !== undefined && { origTo: m[3] }),
      relay: fields.relay ?? '',
      ...(fields.dsn !== undefined && { dsn: fields.dsn }),
      status: m[5] ?? '',
      detail: m[6] ?? '',
    };
  }
  return undefined;
}

// What Postfix appends to a reject reason. The reason comes first, so the leftmost match is Postfix's own
// (a HELO name that repeats "to=<..>" can only come after it, at the end of the line).
const REJECT_TAIL = new RegExp(`; from=<${ADDRESS}>(?: to=<${ADDRESS}>)? proto=(\\S+)(?: helo=<(.*)>)?$`);
// Postfix's reason for a refused recipient starts with the address as it was given: "5.7.1 <x@gmail.com>: ...".
const REASON_ADDRESS = new RegExp(`^\\d\\.\\d{1,3}\\.\\d{1,3} <${ADDRESS}>: `);

function parseReject(m: RegExpExecArray, base: Base): LogEvent {
  const text = m[6] ?? '';
  const tail = REJECT_TAIL.exec(text);
  const reason = tail ? text.slice(0, tail.index) : text;
  const [from, to, helo] = tail ? [tail[1], tail[2], tail[4]] : [];
  const stage = m[2] ?? '';
  // The recipient is believed only when the reason Postfix generated and the to= field agree.
  const named = REASON_ADDRESS.exec(reason)?.[1];
  const recipient = stage === 'RCPT' && named !== undefined && named !== '' && named === to ? named : undefined;
  return {
    ...base,
    type: 'reject',
    ...(m[1] !== 'NOQUEUE' && { queueId: m[1] ?? '' }),
    stage,
    client: m[3] ?? '',
    ip: m[4] ?? '',
    code: Number(m[5]),
    reason,
    ...(from !== undefined && { from }),
    ...(to !== undefined && { to }),
    ...(helo !== undefined && { helo }),
    ...(recipient !== undefined && { recipient }),
  };
}

function courierService(program: string): MailService | undefined {
  const m = /^(?:courier-?)?(imap|pop3)d(?:-ssl)?$/.exec(program);
  return m?.[1] === 'imap' ? 'imap' : m?.[1] === 'pop3' ? 'pop3' : undefined;
}

/**
 * Courier lines are classified by their fields, not their leading keyword, which some Courier versions
 * print wrongly: FAILED before the fields is a failure, byte counts mean the session ended, a user alone
 * is a login. Lines without an ip= (startup notices, errors) are not sessions.
 */
function parseCourier(service: MailService, message: string, base: Base): LogEvent | undefined {
  const firstField = message.search(/\b\w+=/);
  if (firstField < 0) return undefined;
  const keyword = message.slice(0, firstField);
  const fields = keyValues(message.slice(firstField));
  if (fields.ip === undefined) return undefined;
  const who = { ...(fields.user !== undefined && { user: fields.user }), ip: fields.ip };
  if (/FAILED/i.test(keyword)) return { ...base, type: 'login-failed', service, ...who };
  const tally = counts(message.slice(firstField));
  if (tally.rcvd !== undefined || tally.sent !== undefined)
    return { ...base, type: 'logout', service, ...who, counts: tally };
  if (fields.user) return { ...base, type: 'login', service, user: fields.user, ip: fields.ip };
  return undefined;
}

/** `key=<value>`, `key=[value]` and `key=value` pairs, brackets removed. */
function keyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/(\w+)=(?:<([^>]*)>|\[([^\]]*)\]|([^,\s]*))/g)) {
    out[m[1] ?? ''] = m[2] ?? m[3] ?? m[4] ?? '';
  }
  return out;
}

/** Plain numeric `key=N` fields. smtpd writes `rcpt=1/2` when it rejected some: the accepted count is kept. */
function counts(text: string): Counts {
  const out: Counts = {};
  for (const m of text.matchAll(/(?:^|[\s,])(\w+)=(\d+)(?:\/\d+)?(?=[\s,]|$)/g)) out[m[1] ?? ''] = Number(m[2]);
  return out;
}
