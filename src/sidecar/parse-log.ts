import type { Counts, LogEvent, MailService } from './events.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const TRADITIONAL = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (.*)$/;
const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})) (.*)$/;
// "<host> <program>[<pid>]: <message>", the pid being optional (Courier logs without one).
const SOURCE = /^\S+ ([^\s:[\]]+)(?:\[\d+\])?: (.*)$/;
const QUEUE_ID = '([0-9A-Za-z]+)';
const CLIENT = '([^\\s[]*)\\[([^\\]]*)\\]';
const CONNECT = new RegExp(`^connect from ${CLIENT}$`);
const DISCONNECT = new RegExp(`^disconnect from ${CLIENT}(.*)$`);
const SMTP_CLIENT = new RegExp(`^${QUEUE_ID}: client=${CLIENT}`);
const REJECT = new RegExp(`^${QUEUE_ID}: reject: (\\S+) from ${CLIENT}: (\\d{3}) (.*)$`);
const MESSAGE_ID = new RegExp(`^${QUEUE_ID}: message-id=<([^>]*)>`);
const QUEUED = new RegExp(`^${QUEUE_ID}: from=<([^>]*)>, size=(\\d+), nrcpt=(\\d+)`);
const DELIVERY = new RegExp(`^${QUEUE_ID}: to=<([^>]*)>, (.*?)status=(\\w+)(?: \\((.*)\\))?$`);

type Base = { time: string; raw: string };

/**
 * Parses one line of rsyslog's mail.log, traditional or RFC 3339 timestamps. Traditional lines carry no
 * year or zone: they are read as UTC in `year` (this year by default). Unknown or garbled lines give undefined.
 */
export function parseLogLine(line: string, year: number = new Date().getUTCFullYear()): LogEvent | undefined {
  try {
    const raw = line.replace(/[\r\n]+$/, '');
    const stamped = parseStamp(raw, year);
    if (!stamped) return undefined;
    const source = SOURCE.exec(stamped.rest);
    if (!source) return undefined;
    const program = source[1] ?? '';
    const message = source[2] ?? '';
    const base = { time: stamped.time, raw };
    if (program.startsWith('postfix')) return parsePostfix(program.slice(program.lastIndexOf('/') + 1), message, base);
    const service = courierService(program);
    return service ? parseCourier(service, message, base) : undefined;
  } catch {
    return undefined;
  }
}

/** Parses a whole log, skipping the lines it does not know. */
export function parseLog(text: string, year?: number): LogEvent[] {
  const events: LogEvent[] = [];
  for (const line of text.split(/\r?\n/)) {
    const event = parseLogLine(line, year);
    if (event) events.push(event);
  }
  return events;
}

/** The time a log line was written, as an ISO string, or undefined for a line without a timestamp. */
export function lineTime(line: string, year: number = new Date().getUTCFullYear()): string | undefined {
  return parseStamp(line, year)?.time;
}

function parseStamp(line: string, year: number): { time: string; rest: string } | undefined {
  const iso = RFC3339.exec(line);
  if (iso) {
    const date = new Date(iso[1] ?? '');
    return Number.isNaN(date.getTime()) ? undefined : { time: date.toISOString(), rest: iso[2] ?? '' };
  }
  const old = TRADITIONAL.exec(line);
  if (!old) return undefined;
  const month = MONTHS.indexOf(old[1] ?? '');
  const [day, hour, minute, second] = [old[2], old[3], old[4], old[5]].map(Number) as [number, number, number, number];
  const date = new Date(Date.UTC(year, month, day, hour, minute, second));
  // Date.UTC rolls "Feb 31" over into March: refuse it rather than invent a time.
  if (month < 0 || date.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) return undefined;
  return { time: date.toISOString(), rest: old[6] ?? '' };
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
    const fields = keyValues(m[3] ?? '');
    return {
      ...base,
      type: 'delivery',
      queueId: m[1] ?? '',
      transport: daemon,
      to: m[2] ?? '',
      ...(fields.orig_to !== undefined && { origTo: fields.orig_to }),
      relay: fields.relay ?? '',
      ...(fields.dsn !== undefined && { dsn: fields.dsn }),
      status: m[4] ?? '',
      detail: m[5] ?? '',
    };
  }
  return undefined;
}

function parseReject(m: RegExpExecArray, base: Base): LogEvent {
  const text = m[6] ?? '';
  // The reason is free text; Postfix appends "; from=<..> to=<..> proto=.. helo=<..>" after it.
  const cut = text.lastIndexOf('; from=<');
  const fields = cut < 0 ? {} : keyValues(text.slice(cut + 2));
  return {
    ...base,
    type: 'reject',
    ...(m[1] !== 'NOQUEUE' && { queueId: m[1] ?? '' }),
    stage: m[2] ?? '',
    client: m[3] ?? '',
    ip: m[4] ?? '',
    code: Number(m[5]),
    reason: cut < 0 ? text : text.slice(0, cut),
    ...(fields.from !== undefined && { from: fields.from }),
    ...(fields.to !== undefined && { to: fields.to }),
    ...(fields.helo !== undefined && { helo: fields.helo }),
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
